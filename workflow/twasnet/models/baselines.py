"""FUSION's stage-1 baselines: ``top1``, ``lasso`` and ``blup``, as registry estimators.

All three are linear in the dosages: prediction is ``intercept + x @ coef`` with ``coef`` (p,) on
the original dosage scale, and ``state()`` has the same layout as
:meth:`twasnet.models.enet.ElasticNetModel.state` (PredictDB export reads ``coef``). Every
statistic is computed on the training rows handed to ``fit`` only.

* :class:`Top1Model` (FUSION ``top1``): the single variant with the largest marginal association
  ``|t|`` (simple regression of y on each non-constant dosage column), then the OLS fit of y on
  that variant alone (intercept + slope).
* :class:`LassoModel` (FUSION ``lasso``): :class:`twasnet.models.enet.ElasticNetCV` with
  ``alpha = 1``, i.e. ``enet``'s solver, lambda path and inner CV with the pure L1 penalty.
* :class:`BlupModel` (FUSION ``blup``): ridge regression on column-standardised dosages with the
  penalty fixed by the REML cis-h2 (:func:`twasnet.heritability.reml_h2`) of the same rows.

BLUP details. With ``Z`` (n, p_eff) the non-constant training columns standardised by their
training mean and population sd, and ``y = mu + Z b + e``, ``b ~ N(0, sigma_g2 / p_eff I)``,
``e ~ N(0, sigma_e2 I)``, the BLUP of ``b`` minimises ``||y_c - Z b||^2 + lambda ||b||^2`` with
``lambda = p_eff sigma_e2 / sigma_g2 = p_eff (1 - h2) / h2``. ``Z`` is centred, so the GLS
intercept is exactly ``mean(y)`` and ``y_c = y - mean(y)`` (the same as scikit-learn's ``Ridge``
with ``fit_intercept=True``). The REML uses the kernel ``K = Z Z' / p_eff`` (what ``reml_h2``
builds from the ``Z`` it is given) with an intercept and no covariates (y is already adjusted).
h2 is clamped into [1e-3, 0.999] before computing lambda, so lambda stays finite and positive
when REML lands on the boundary (h2 = 0 -> lambda = 999 p_eff, strong but finite shrinkage;
h2 = 1 -> lambda = p_eff / 999); the raw estimate is kept in the hyperparameters. The system is
solved in the primal (p_eff x p_eff) when p_eff <= n, else in the dual (n x n):
``b = Z' (Z Z' + lambda I)^-1 y_c``. Constant columns get coefficient 0.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from twasnet.adjust import is_constant, standardisation
from twasnet.errors import GeneSkipped
from twasnet.models.enet import ElasticNetModel
from twasnet.models.registry import TrainingInputs

__all__ = ["BlupModel", "LassoModel", "Top1Model", "blup_lambda", "marginal_t", "ridge_coef"]

H2_MIN = 1e-3  # BLUP: REML h2 is clamped into [H2_MIN, H2_MAX] before lambda is computed
H2_MAX = 0.999
_TIE_RTOL = 1e-12  # top1: |t| within this relative distance of the maximum counts as a tie
_R2_MAX = 1.0 - 1e-15  # keeps t finite for a column that explains y exactly


def _training_xy(inputs: TrainingInputs) -> tuple[np.ndarray, np.ndarray]:
    """Checked float64 ``x`` (n, p) and ``y`` (n,) of the training rows."""
    x = np.asarray(inputs.x, dtype=np.float64)
    y = np.asarray(inputs.y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, p) and y (n,); got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x or y contains NaN or infinite values; impute missing dosages first")
    if is_constant(y.mean(), y.std()):
        raise GeneSkipped("constant_expression", "expression is constant in the training rows")
    return x, y


def _usable_columns(x: np.ndarray) -> np.ndarray:
    """(p,) bool: columns not constant in ``x``; raises GeneSkipped when there is none."""
    _, sd = standardisation(x)
    keep = np.isfinite(sd)
    if not np.any(keep):
        raise GeneSkipped("no_variants", "every variant is constant in the training rows")
    return keep


def _linear_state(coef: np.ndarray, intercept: float, hyperparameters: dict) -> dict:
    """The registry's linear artefact: prediction is ``intercept + dosages @ coef``."""
    return {
        "kind": "linear",
        "coef": np.asarray(coef, dtype=np.float64),
        "intercept": float(intercept),
    } | hyperparameters


def _json_float(value: float) -> float | None:
    """A plain float, or None for NaN (strict JSON has no NaN)."""
    value = float(value)
    return None if math.isnan(value) else value


def marginal_t(x: np.ndarray, y: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Simple-regression t statistics of every column of ``x`` (n, p) on ``y`` (n,).

    ``usable`` (p,) bool selects the non-constant columns. Returns ``(t, p_value)``, both (p,):
    ``t = r sqrt((n - 2) / (1 - r^2))`` with r the Pearson correlation (r^2 capped just below 1)
    and the two-sided p-value on n - 2 degrees of freedom; NaN for unusable columns.
    """
    from scipy import special  # lazily: only top1 needs the t distribution

    n, p = x.shape
    if n < 3:
        raise ValueError(f"the marginal t-test needs n >= 3 training rows, got {n}")
    xc = x[:, usable] - x[:, usable].mean(axis=0)
    yc = y - y.mean()
    sxx = np.einsum("ij,ij->j", xc, xc)
    r = (xc.T @ yc) / np.sqrt(sxx * float(yc @ yc))
    r2 = np.minimum(r**2, _R2_MAX)
    t = np.full(p, np.nan)
    t[usable] = r * np.sqrt((n - 2) / (1.0 - r2))
    p_value = np.full(p, np.nan)
    p_value[usable] = 2.0 * special.stdtr(n - 2, -np.abs(t[usable]))
    return t, p_value


class _LinearBaseline:
    """The registry protocol of a model whose prediction is ``intercept_ + x @ coef_``."""

    def __init__(self, **ignored) -> None:
        self.coef_: np.ndarray | None = None

    def _fitted(self) -> np.ndarray:
        if self.coef_ is None:
            raise RuntimeError(f"{type(self).__name__} used before fit")
        return self.coef_

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions (m,) for dosages ``x`` (m, p)."""
        return np.asarray(x, dtype=np.float64) @ self._fitted() + self.intercept_

    def importance(self) -> np.ndarray:
        """Coefficients (p,) on the original dosage scale (0 for unused columns)."""
        return self._fitted().copy()

    def n_nonzero(self) -> int:
        return int(np.count_nonzero(self._fitted()))

    def state(self) -> dict:
        """Prediction is ``intercept + dosages @ coef`` on the original dosage scale."""
        return _linear_state(self._fitted(), self.intercept_, self.hyperparameters())


class Top1Model(_LinearBaseline):
    """FUSION ``top1``: OLS on the one variant with the largest marginal ``|t|``.

    Ties (``|t|`` within a relative 1e-12 of the maximum) go to the lowest column index; constant
    columns are never chosen. After ``fit``: ``index_``, ``t_``, ``p_value_``, ``coef_`` (p,)
    (one non-zero entry, the OLS slope) and ``intercept_``.
    """

    def fit(self, inputs: TrainingInputs) -> Top1Model:
        """Fit on ``inputs.x`` (n_train, p) and ``inputs.y`` (n_train,); folds are not used."""
        x, y = _training_xy(inputs)
        usable = _usable_columns(x)
        t, p_value = marginal_t(x, y, usable)
        score = np.where(usable, np.abs(t), -np.inf)
        best = float(score.max())
        j = int(np.flatnonzero(score >= best * (1.0 - _TIE_RTOL))[0])
        xj = x[:, j]
        xc = xj - xj.mean()
        slope = float(xc @ (y - y.mean()) / (xc @ xc))
        self.index_ = j
        self.t_ = float(t[j])
        self.p_value_ = float(p_value[j])
        self.coef_ = np.zeros(x.shape[1])
        self.coef_[j] = slope
        self.intercept_ = float(y.mean() - slope * xj.mean())
        return self

    def hyperparameters(self) -> dict:
        self._fitted()
        return {"variant_index": self.index_, "t": self.t_, "p_value": self.p_value_}


class LassoModel(ElasticNetModel):
    """FUSION ``lasso``: ``enet`` (ElasticNetCV, same lambda path and inner CV) with alpha = 1.

    Hyperparameters and state as :class:`~twasnet.models.enet.ElasticNetModel`. A gene whose
    variants are all constant in training is skipped (``GeneSkipped("no_variants")``).
    """

    def __init__(self, *, n_lambda: int = 100, lambda_min_ratio=None, **ignored) -> None:
        super().__init__(alpha=1.0, n_lambda=n_lambda, lambda_min_ratio=lambda_min_ratio)

    def fit(self, inputs: TrainingInputs) -> LassoModel:
        x, _ = _training_xy(inputs)
        _usable_columns(x)
        super().fit(inputs)
        return self


def blup_lambda(h2: float, p_eff: int) -> float:
    """Ridge penalty ``p_eff (1 - h2) / h2`` of the BLUP, h2 clamped into [H2_MIN, H2_MAX]."""
    h2 = min(max(float(h2), H2_MIN), H2_MAX)
    return p_eff * (1.0 - h2) / h2


def ridge_coef(z: np.ndarray, y_c: np.ndarray, lam: float) -> np.ndarray:
    """Minimiser (p,) of ``||y_c - z b||^2 + lam ||b||^2`` for ``z`` (n, p), ``y_c`` (n,).

    Solved in the primal when p <= n, else in the dual ``b = z' (z z' + lam I)^-1 y_c``.
    """
    n, p = z.shape
    if p <= n:
        gram = z.T @ z
        gram[np.diag_indices(p)] += lam
        return linalg.solve(gram, z.T @ y_c, assume_a="pos")
    kernel = z @ z.T
    kernel[np.diag_indices(n)] += lam
    return z.T @ linalg.solve(kernel, y_c, assume_a="pos")


class BlupModel(_LinearBaseline):
    """FUSION ``blup``: ridge on standardised dosages, lambda from the REML cis-h2 (module docs).

    After ``fit``: ``coef_`` (p,) and ``intercept_`` on the dosage scale, ``lambda_``, ``h2_``
    (clamped), ``reml_`` the :class:`~twasnet.heritability.RemlResult`, ``n_effective_`` (p_eff,
    the non-constant training columns).
    """

    def fit(self, inputs: TrainingInputs) -> BlupModel:
        """Fit on ``inputs.x`` (n_train, p) and ``inputs.y`` (n_train,); folds are not used."""
        from twasnet.heritability import reml_h2  # imports scipy.stats: only when fitting

        x, y = _training_xy(inputs)
        keep = _usable_columns(x)
        x_mean, x_sd = standardisation(x)
        z = (x[:, keep] - x_mean[keep]) / x_sd[keep]  # (n, p_eff)
        p_eff = int(keep.sum())
        reml = reml_h2(y, z)
        lam = blup_lambda(reml.h2, p_eff)
        y_mean = float(y.mean())
        b = ridge_coef(z, y - y_mean, lam)
        self.coef_ = np.zeros(x.shape[1])
        self.coef_[keep] = b / x_sd[keep]
        self.intercept_ = float(y_mean - self.coef_ @ x_mean)
        self.lambda_ = float(lam)
        self.h2_ = min(max(reml.h2, H2_MIN), H2_MAX)
        self.reml_ = reml
        self.n_effective_ = p_eff
        return self

    def hyperparameters(self) -> dict:
        self._fitted()
        reml = self.reml_
        return {
            "lambda": self.lambda_,
            "h2": float(self.h2_),
            "h2_reml": float(reml.h2),
            "h2_se": _json_float(reml.h2_se),
            "h2_p_value": float(reml.p_value),
            "reml_converged": bool(reml.converged),
            "n_effective_variants": self.n_effective_,
        }
