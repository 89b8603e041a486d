"""Model registry: a model name used in config and tables -> a factory of estimators.

Every estimator follows one protocol so that training, aggregation and exports never special-case a
model: ``fit(inputs) -> self``, ``predict(x) -> y``, ``importance() -> (p,)``,
``hyperparameters() -> dict``, ``n_nonzero() -> int`` and ``state() -> dict``. Adding a model is
one module in ``twasnet/models/`` plus one entry in :data:`MODELS`; its family, export and prior
are read from that entry by the rules (``workflow/rules/common.smk``), the stages and exports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrainingInputs:
    """One gene's training data.

    ``x`` (n_train, p) raw dosages of training individuals; ``y`` (n_train,) covariate-adjusted
    expression; ``folds`` (n_train,) inner-CV labels; ``variants`` (p rows, with ``annot_*``
    columns); ``features`` (p, d) per-variant annotation features
    (:func:`twasnet.models.features.annotation_features`); ``seed`` for any randomness;
    ``threads`` the CPU threads granted to the job; ``gene_id`` (cross-fitted priors).
    """

    x: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    variants: pd.DataFrame
    features: np.ndarray
    seed: int
    threads: int = 1
    gene_id: str = ""


class Estimator(Protocol):
    def fit(self, inputs: TrainingInputs) -> Estimator: ...
    def predict(self, x: np.ndarray) -> np.ndarray: ...
    def importance(self) -> np.ndarray: ...
    def hyperparameters(self) -> dict: ...
    def n_nonzero(self) -> int: ...
    def state(self) -> dict: ...


@dataclass(frozen=True)
class PriorSpec:
    """An across-gene prior a model needs before per-gene training, fitted once per split on
    the training individuals of every selected gene: ``fit(genes, params, seed, threads) ->
    state`` with ``genes`` a list of ``(gene_id, TrainingInputs)``; ``save(state, path)``;
    ``suffix`` of its file."""

    fit: Callable[[list, dict, int, int], dict]
    save: Callable[[dict, str], None]
    suffix: str = "json"


@dataclass(frozen=True)
class TogetherSpec:
    """A model that fits several genes at once, in two steps: ``before(estimator, inputs) ->
    pending`` per gene (what can be done gene by gene; ``pending`` holds no more of the inputs
    than the second step needs), then ``after(estimators, pendings)`` for all of them (the deep
    models' encoders as one stack); ``size(params, n_genes)``: how many of a chunk's
    ``n_genes`` to fit at once under the model's config ``params``."""

    before: Callable[[Estimator, TrainingInputs], object]
    after: Callable[[list, list], None]
    size: Callable[[dict, int], int]


@dataclass(frozen=True)
class ModelSpec:
    """One catalogue entry. ``factory(params) -> Estimator``; ``family`` "linear" (JSON artefact,
    a CPU job) or "deep" (torch artefact, a job tagged for a GPU); ``exportable``: prediction is
    ``intercept + dosages @ coef`` (PredictDB weights); ``prior``: its across-gene prior;
    ``together``: how it fits several genes at once (None: one ``fit`` after another)."""

    factory: Callable[[dict], Estimator]
    family: str
    exportable: bool = False
    prior: PriorSpec | None = None
    together: TogetherSpec | None = None


def _lazy(module: str, name: str, **fixed) -> Callable[[dict], Estimator]:
    """A factory importing ``twasnet.models.<module>`` on first use (a job loads what it needs)."""

    def make(params: dict) -> Estimator:
        from importlib import import_module

        return getattr(import_module(f"twasnet.models.{module}"), name)(**{**params, **fixed})

    return make


def _fit_enet_prior(genes, params, seed, threads):
    from twasnet.models.enet_annot import EnetPriorGene, fit_enet_prior

    return fit_enet_prior(
        [EnetPriorGene(x=g.x, y=g.y, features=g.features) for _, g in genes], seed=seed
    )


def _save_enet_prior(state, path):
    from twasnet.models.enet_annot import save_enet_prior

    save_enet_prior(state, path)


def _fit_deep_prior(genes, params, seed, threads):
    from twasnet.models.deep.prior import fit_prior

    return fit_prior(genes, seed=seed, prior=params.get("prior"))


def _deep_before(estimator, inputs):
    return estimator.fit_before_encoder(inputs)


def _deep_after(estimators, pending):
    from twasnet.models.deep import fit_encoders

    fit_encoders(estimators, pending)


def _deep_size(params, n_genes):
    from twasnet.models.deep import batch_size

    return batch_size(params, n_genes)


DEEP_TOGETHER = TogetherSpec(_deep_before, _deep_after, _deep_size)


def _save_deep_prior(state, path):
    from twasnet.models.deep.prior import save_prior

    save_prior(state, path)


# The one catalogue of models: rules, stages, exports and tests read names and families here.
MODELS: dict[str, ModelSpec] = {
    "enet": ModelSpec(_lazy("enet", "ElasticNetModel"), "linear", exportable=True),
    "enet_annot": ModelSpec(
        _lazy("enet_annot", "AnnotatedElasticNetModel"),
        "linear",
        exportable=True,
        prior=PriorSpec(_fit_enet_prior, _save_enet_prior),
    ),
    "lasso": ModelSpec(_lazy("baselines", "LassoModel"), "linear", exportable=True),
    "blup": ModelSpec(_lazy("baselines", "BlupModel"), "linear", exportable=True),
    "top1": ModelSpec(_lazy("baselines", "Top1Model"), "linear", exportable=True),
    "enet_features": ModelSpec(_lazy("enet_features", "FeatureElasticNetModel"), "linear"),
    "cnn": ModelSpec(_lazy("deep", "CNNModel"), "deep", together=DEEP_TOGETHER),
    "cnn_annot": ModelSpec(
        _lazy("deep", "AnnotatedCNNModel"),
        "deep",
        prior=PriorSpec(_fit_deep_prior, _save_deep_prior),
        together=DEEP_TOGETHER,
    ),
}


def models_of(family: str) -> tuple[str, ...]:
    """Names of the catalogue's models of ``family`` ("linear" or "deep")."""
    return tuple(name for name, spec in MODELS.items() if spec.family == family)


def exportable_models() -> tuple[str, ...]:
    """Models whose state is PredictDB weights (``intercept + dosages @ coef``)."""
    return tuple(name for name, spec in MODELS.items() if spec.exportable)


def prior_models() -> tuple[str, ...]:
    """Models that need an across-gene prior before per-gene training."""
    return tuple(name for name, spec in MODELS.items() if spec.prior is not None)


def make_model(name: str, params: dict) -> Estimator:
    """A fresh estimator of model ``name`` configured by ``params`` (the model's config section)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {sorted(MODELS)}")
    return MODELS[name].factory(params)


def begin_fit(name: str, estimator: Estimator, inputs: TrainingInputs):
    """The part of a fit of model ``name`` done gene by gene: the whole ``fit``, or for a model
    that fits genes together (:class:`TogetherSpec`) its first step; returns what
    :func:`finish_fits` needs."""
    together = MODELS[name].together
    if together is None:
        estimator.fit(inputs)
        return None
    return together.before(estimator, inputs)


def finish_fits(name: str, estimators: list, pending: list) -> None:
    """The rest of the fits :func:`begin_fit` began, for all of ``estimators`` at once."""
    together = MODELS[name].together
    if together is not None and estimators:
        together.after(estimators, pending)


def load_predictor(state: dict):
    """An object with ``predict(x)`` rebuilt from a non-linear ``state`` (deep or expanded)."""
    kind = state.get("kind")
    if kind == "features":
        from twasnet.models.enet_features import load_model
    elif kind == "nested":
        from twasnet.models.deep import load_model
    else:
        raise ValueError(
            f"artefact state of kind {kind!r} is not one this twasnet reads; retrain the model"
        )
    return load_model(state)
