"""``enet_features``: the elastic net on the deep models' own expanded inputs (a control).

The design is the dosages, their heterozygosities ``g (2 - g)`` (every variant) and the pair
products that :func:`twasnet.models.terms.screen_terms` keeps against the residual of ``enet``
on the training rows (the screen ``cnn`` runs, with its ``terms`` settings); the elastic net of
``enet`` (:class:`twasnet.models.enet.ElasticNetCV`, same folds, lambda by inner CV) is fitted on
it. A gain of ``cnn`` over this control is the network's; a gain of both over ``enet`` is the
encoding's.
"""

from __future__ import annotations

import numpy as np

from twasnet.adjust import standardisation
from twasnet.models.deep.config import TERMS_DEFAULTS, check_section
from twasnet.models.enet import ElasticNetCV
from twasnet.models.terms import (
    Terms,
    candidate_variants,
    heterozygosity,
    screen_terms,
    term_matrix,
)

__all__ = ["FeatureElasticNetModel", "load_model"]


def _design(x: np.ndarray, pairs: Terms, x_mean: np.ndarray, x_sd: np.ndarray) -> np.ndarray:
    """(n, 2p + k): dosages, heterozygosities and the pair products of ``x`` (n, p)."""
    return np.column_stack([x, heterozygosity(x), term_matrix(x, pairs, x_mean=x_mean, x_sd=x_sd)])


class FeatureElasticNetModel:
    """Registry estimator; ``alpha``/``n_lambda``/``lambda_min_ratio`` as ``enet``, ``terms`` as
    the deep models' (:data:`twasnet.models.deep.config.TERMS_DEFAULTS`; its dominance switch is
    ignored: every heterozygosity is a column)."""

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        n_lambda: int = 100,
        lambda_min_ratio=None,
        terms: dict | None = None,
        **ignored,
    ) -> None:
        self.params = {"alpha": alpha, "n_lambda": n_lambda, "lambda_min_ratio": lambda_min_ratio}
        self.terms_cfg = check_section("terms", terms, TERMS_DEFAULTS)
        self.fit_ = None

    def fit(self, inputs) -> FeatureElasticNetModel:
        x, y = np.asarray(inputs.x, np.float64), np.asarray(inputs.y, np.float64)
        core = ElasticNetCV(**self.params, n_threads=inputs.threads).fit(x, y, folds=inputs.folds)
        self.x_mean_, self.x_sd_ = standardisation(x)
        pairs = Terms()
        if self.terms_cfg["pairs"]:
            cand = candidate_variants(x, y, size=self.terms_cfg["candidates"])
            pairs = screen_terms(
                x,
                y - core.predict(x),
                candidates=cand,
                dominance=False,
                max_terms=self.terms_cfg["max_terms"],
                alpha=self.terms_cfg["alpha"],
            )
        self.pairs_ = pairs
        design = _design(x, pairs, self.x_mean_, self.x_sd_)
        sd = standardisation(design)[1]
        self.column_sd_ = np.where(np.isfinite(sd), sd, 0.0)
        self.fit_ = ElasticNetCV(**self.params, n_threads=inputs.threads).fit(
            design, y, folds=inputs.folds
        )
        return self

    def _fitted(self) -> ElasticNetCV:
        if self.fit_ is None:
            raise RuntimeError("FeatureElasticNetModel used before fit")
        return self.fit_

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions (m,) for raw dosages ``x`` (m, p)."""
        x = np.asarray(x, np.float64)
        return self._fitted().predict(_design(x, self.pairs_, self.x_mean_, self.x_sd_))

    def importance(self) -> np.ndarray:
        """(p,): the standardised absolute coefficients of a variant's dosage and heterozygosity
        columns, plus those of every kept pair it belongs to."""
        fit = self._fitted()
        p = self.x_mean_.shape[0]
        size = np.abs(fit.coef_) * self.column_sd_
        imp = size[:p] + size[p : 2 * p]
        for k, (a, b) in enumerate(zip(self.pairs_.a, self.pairs_.b, strict=True)):
            imp[a] += size[2 * p + k]
            imp[b] += size[2 * p + k]
        return imp

    def n_nonzero(self) -> int:
        return int(np.count_nonzero(self.importance()))

    def hyperparameters(self) -> dict:
        fit = self._fitted()
        return {
            "alpha": self.params["alpha"],
            "lambda": float(fit.lambda_),
            "lambda_index": int(fit.lambda_index_),
            "variant_pairs": [[a, b] for a, b in zip(self.pairs_.a, self.pairs_.b, strict=True)],
        }

    def state(self) -> dict:
        """Prediction is ``intercept + design(dosages) @ coef`` (:func:`load_model`)."""
        fit = self._fitted()
        return {
            "kind": "features",
            "coef": [float(v) for v in fit.coef_],
            "intercept": float(fit.intercept_),
            "pairs": self.pairs_.as_dict(),
            "x_mean": [float(v) for v in self.x_mean_],
            "x_sd": [float(v) for v in self.x_sd_],
        } | self.hyperparameters()


class _Predictor:
    def __init__(self, state: dict) -> None:
        self.coef = np.asarray(state["coef"], np.float64)
        self.intercept = float(state["intercept"])
        self.pairs = Terms.from_dict(state["pairs"])
        self.x_mean = np.asarray(state["x_mean"], np.float64)
        self.x_sd = np.asarray(state["x_sd"], np.float64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return self.intercept + _design(x, self.pairs, self.x_mean, self.x_sd) @ self.coef


def load_model(state: dict) -> _Predictor:
    """A predictor from :meth:`FeatureElasticNetModel.state`."""
    return _Predictor(state)
