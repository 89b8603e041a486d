"""Model registry: a model name used in config and tables -> a factory of estimators.

Every estimator follows one protocol so that training, aggregation and exports never special-case a
model: ``fit(inputs) -> self``, ``predict(x) -> y``, ``importance() -> (p,)``,
``hyperparameters() -> dict`` and ``n_nonzero() -> int``. Adding a model is one module in
``twasnet/models/`` plus one entry in :data:`MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TrainingInputs:
    """One gene's training data.

    ``x`` (n_train, p) raw dosages of training individuals; ``y`` (n_train,) covariate-adjusted
    expression; ``folds`` (n_train,) inner-CV labels; ``variants`` (p rows, with ``annot_*``
    columns); ``features`` (p, d) per-variant annotation features
    (:func:`twasnet.models.features.annotation_features`); ``seed`` for any randomness;
    ``threads`` the CPU threads granted to the job.
    """

    x: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    variants: pd.DataFrame
    features: np.ndarray
    seed: int
    threads: int = 1


class Estimator(Protocol):
    def fit(self, inputs: TrainingInputs) -> Estimator: ...
    def predict(self, x: np.ndarray) -> np.ndarray: ...
    def importance(self) -> np.ndarray: ...
    def hyperparameters(self) -> dict: ...
    def n_nonzero(self) -> int: ...
    def state(self) -> dict: ...


class ElasticNetModel:
    """PrediXcan-style elastic net: lambda by inner CV over a glmnet path, refit on all training."""

    def __init__(self, *, alpha: float = 0.5, n_lambda: int = 100, lambda_min_ratio=None) -> None:
        self.alpha = alpha
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self._fit = None  # a fitted twasnet.models.enet.ElasticNetCV

    def fit(self, inputs: TrainingInputs) -> ElasticNetModel:
        from twasnet.models.enet import ElasticNetCV

        self._fit = ElasticNetCV(
            alpha=self.alpha,
            n_lambda=self.n_lambda,
            lambda_min_ratio=self.lambda_min_ratio,
            n_threads=inputs.threads,
        ).fit(inputs.x, inputs.y, folds=inputs.folds)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._fit.predict(x)

    def importance(self) -> np.ndarray:
        return np.asarray(self._fit.coef_, dtype=np.float64)

    def hyperparameters(self) -> dict:
        return {
            "alpha": self.alpha,
            "lambda": float(self._fit.lambda_),
            "lambda_index": int(self._fit.lambda_index_),
            "n_lambda_path": int(len(self._fit.lambdas_)),
        }

    def n_nonzero(self) -> int:
        return int(np.count_nonzero(self._fit.coef_))

    def state(self) -> dict:
        """Prediction is ``intercept + dosages @ coef`` on the original dosage scale."""
        return {
            "kind": "linear",
            "coef": np.asarray(self._fit.coef_, dtype=np.float64),
            "intercept": float(self._fit.intercept_),
        } | self.hyperparameters()


def _enet_annot(params: dict) -> Estimator:
    from twasnet.models.enet_annot import AnnotatedElasticNetModel

    return AnnotatedElasticNetModel(**params)


def _cnn(params: dict) -> Estimator:
    from twasnet.models.deep import CNNModel

    return CNNModel(**params)


def _cnn_annot(params: dict) -> Estimator:
    from twasnet.models.deep import AnnotatedCNNModel

    return AnnotatedCNNModel(**params)


# Factories import their module on first use, so a job loads only what its model needs.
MODELS: dict[str, Callable[[dict], Estimator]] = {
    "enet": lambda params: ElasticNetModel(**params),
    "enet_annot": _enet_annot,
    "cnn": _cnn,
    "cnn_annot": _cnn_annot,
    "cnn_annot_local": lambda params: _cnn_annot({**params, "prior_path": None}),
}
# Models whose artefact holds torch tensors (saved as .pt); the others are saved as JSON.
DEEP_MODELS = ("cnn", "cnn_annot", "cnn_annot_local")
# Models that need an across-gene prior fitted on training individuals before per-gene training.
PRIOR_MODELS = ("enet_annot", "cnn_annot")


def make_model(name: str, params: dict) -> Estimator:
    """A fresh estimator of model ``name`` configured by ``params`` (the model's config section)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {sorted(MODELS)}")
    return MODELS[name](params)
