"""Elastic net with cross-validated lambda, solved by adelie and following cv.glmnet's rules.

Conventions mirror R ``glmnet``/``cv.glmnet`` for ``family="gaussian"``, ``standardize=TRUE``:

* Objective on the fitting data, after standardising X columns (mean, population sd; 1/n) and
  y (centred and divided by its population sd ``sd_y``)::

      1/(2n) ||u - Xs c||^2 + (lambda / sd_y) sum_j vp_j (alpha |c_j| + (1 - alpha)/2 c_j^2)

  with ``u = (y - mean(y)) / sd_y``; coefficients are returned on the original scale
  (``b_j = sd_y c_j / sd_j``) and lambda on y's original scale, so lambdas are comparable to
  glmnet's. (For alpha < 1 this is *not* the same as penalising the unstandardised y, exactly
  as in glmnet.) adelie's Gaussian loss uses weights 1/n and one group per feature, i.e. this
  objective.
* ``penalty_factor`` (glmnet's ``penalty.factor``) is rescaled to sum to p; 0 means unpenalised.
  Columns with sd 0 in the fitting data get coefficient 0.
* lambda path: ``lambda_max = max_j |x_j' r| / (n vp_j max(alpha, 1e-3))`` on the standardised
  data (``r`` = y residual after the unpenalised columns; centred y when there are none), then
  ``n_lambda`` log-spaced values down to ``lambda_min_ratio * lambda_max`` (default 0.01 when
  n < p, else 1e-4). The full-data path is truncated like glmnet's: from the 5th lambda on, stop
  after the first lambda whose deviance ratio changed by less than 1e-5 of itself, or exceeds
  0.999.
* CV: every fold is refitted (standardising with its own training part) on the same lambdas,
  without truncation; the CV error is the fold MSEs weighted by fold size, its SE as cv.glmnet's
  ``cvsd``; ``lambda.min`` is the largest lambda attaining the minimum CV error.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import numpy as np

from twasnet.adjust import is_constant, standardisation


@functools.cache
def _adelie():
    """adelie, imported on first use (it imports scikit-learn and matplotlib: ~2-3 s that a job
    fitting no elastic net should not pay), without the handler it attaches to the root logger at
    import time (which would echo every log record of the host program, Snakemake's included, a
    second time)."""
    root = logging.getLogger()
    before = list(root.handlers)
    import adelie

    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
    return adelie


__all__ = [
    "CVDesign",
    "ElasticNetCV",
    "ElasticNetModel",
    "EnetPath",
    "cv_design",
    "elastic_net_path",
]

GLMNET_FDEV = 1e-5  # glmnet.control(fdev): minimum fractional change in deviance explained
GLMNET_DEVMAX = 0.999  # glmnet.control(devmax): maximum fraction of deviance explained
GLMNET_MNLAM = 5  # glmnet.control(mnlam): never stop before this many lambdas


@dataclass(frozen=True)
class EnetPath:
    """Solutions along a lambda path on the original scale.

    ``lambdas`` (L,) decreasing; ``coef`` (L, p); ``intercept`` (L,); ``dev_ratio`` (L,) fraction
    of deviance explained on the fitting data (glmnet's ``dev.ratio``).
    """

    lambdas: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    dev_ratio: np.ndarray


def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, p), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values; impute missing dosages first")
    return x


def _as_vector(y: np.ndarray, n: int, name: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return y


def _penalty_weights(penalty_factor: np.ndarray | None, p: int) -> np.ndarray:
    """glmnet's ``vp``: non-negative factors rescaled to sum to p, (p,)."""
    if penalty_factor is None:
        return np.ones(p)
    pf = np.asarray(penalty_factor, dtype=np.float64)
    if pf.shape != (p,):
        raise ValueError(f"penalty_factor must have shape ({p},), got {pf.shape}")
    if not np.all(np.isfinite(pf)) or np.any(pf < 0):
        raise ValueError("penalty_factor must be finite and >= 0 (0 = unpenalised)")
    if not pf.sum() > 0:
        raise ValueError("penalty_factor is 0 for every variant; at least one must be penalised")
    return pf * p / pf.sum()


@dataclass
class _Standardised:
    """Column-standardised X and standardised y of one fitting set."""

    xs: np.ndarray  # (n, p_keep) Fortran order
    keep: np.ndarray  # (p,) bool, non-constant columns
    x_mean: np.ndarray  # (p,)
    x_sd: np.ndarray  # (p,)
    y_mean: float
    y_sd: float
    u: np.ndarray  # (n,) standardised y


def _standardise(x: np.ndarray, y: np.ndarray) -> _Standardised:
    x_mean, x_sd = standardisation(x)  # population sd, as glmnet; inf for constant columns
    keep = np.isfinite(x_sd)
    xs = np.asfortranarray((x[:, keep] - x_mean[keep]) / x_sd[keep])
    y_mean = float(y.mean())
    y_sd = float(y.std())
    if is_constant(y_mean, y_sd):
        y_sd = 0.0
    u = (y - y_mean) / y_sd if y_sd > 0 else np.zeros_like(y)
    return _Standardised(xs, keep, x_mean, x_sd, y_mean, y_sd, u)


def _lambda_max(std: _Standardised, vp: np.ndarray, alpha: float) -> float:
    """glmnet's lambda_max on y's original scale (0 when nothing penalised can enter)."""
    n = std.u.shape[0]
    vp_k = vp[std.keep]
    pen = vp_k > 0
    if std.y_sd == 0 or not np.any(pen):
        return 0.0
    r = std.u
    if np.any(~pen):  # glmnet fits the unpenalised columns first (its lambda = "infinity" step)
        xu = std.xs[:, ~pen]
        r = r - xu @ np.linalg.lstsq(xu, r, rcond=None)[0]
    score = np.abs(std.xs[:, pen].T @ r) / n / vp_k[pen]
    return float(score.max() / max(alpha, 1e-3) * std.y_sd)


def _glmnet_exit(n_lambda: int):
    """adelie ``exit_cond`` implementing glmnet's early path stop (fdev, devmax, mnlam)."""
    mnl = min(GLMNET_MNLAM, n_lambda)

    def stop(state) -> bool:
        devs = state.devs
        m = len(devs)
        if m < mnl:
            return False
        dev = float(devs[-1])
        dev0 = float(devs[-2]) if m >= 2 else 0.0
        return (dev - dev0 < GLMNET_FDEV * dev) or dev > GLMNET_DEVMAX

    return stop


def _fit_standardised(
    std: _Standardised,
    lambdas: np.ndarray,
    *,
    alpha: float,
    vp: np.ndarray,
    tol: float,
    n_threads: int,
    truncate: bool,
) -> EnetPath:
    n = std.u.shape[0]
    p = std.keep.shape[0]
    n_lam = lambdas.shape[0]
    vp_k = vp[std.keep]
    if std.y_sd == 0 or std.xs.shape[1] == 0:
        # Constant y or no usable column: intercept-only model at every lambda.
        return EnetPath(
            lambdas=lambdas.copy(),
            coef=np.zeros((n_lam, p)),
            intercept=np.full(n_lam, std.y_mean),
            dev_ratio=np.zeros(n_lam),
        )
    if not np.any(vp_k > 0):
        # Only unpenalised columns are usable: least squares, the same at every lambda.
        c = np.linalg.lstsq(std.xs, std.u, rcond=None)[0]
        resid = std.u - std.xs @ c
        betas = np.tile(c, (n_lam, 1))
        intercepts = np.zeros(n_lam)
        devs = np.full(n_lam, 1.0 - float(resid @ resid) / n)
    else:
        ad = _adelie()
        state = ad.grpnet(
            X=ad.matrix.dense(std.xs, method="naive", n_threads=n_threads),
            glm=ad.glm.gaussian(std.u),
            alpha=alpha,
            penalty=np.ascontiguousarray(vp_k),
            lmda_path=lambdas / std.y_sd,
            intercept=True,
            tol=tol,
            early_exit=False,  # adelie's own rule (adev_tol=0.9) is not glmnet's
            exit_cond=_glmnet_exit(n_lam) if truncate else None,
            n_threads=n_threads,
            progress_bar=False,
        )
        betas = state.betas.toarray()
        intercepts = np.asarray(state.intercepts, dtype=np.float64)
        devs = np.asarray(state.devs, dtype=np.float64)
        n_lam = betas.shape[0]
    coef = np.zeros((n_lam, p))
    coef[:, std.keep] = betas * (std.y_sd / std.x_sd[std.keep])
    intercept = std.y_mean + std.y_sd * intercepts - coef @ std.x_mean
    return EnetPath(lambdas=lambdas[:n_lam].copy(), coef=coef, intercept=intercept, dev_ratio=devs)


def elastic_net_path(
    x: np.ndarray,
    y: np.ndarray,
    *,
    lambdas: np.ndarray,
    alpha: float = 0.5,
    penalty_factor: np.ndarray | None = None,
    tol: float = 1e-7,
    n_threads: int = 1,
) -> EnetPath:
    """Fit the elastic net at given lambdas (glmnet scale), no path truncation.

    ``x`` (n, p) raw, ``y`` (n,), ``lambdas`` (L,) positive; returned solutions are ordered by
    decreasing lambda. Standardisation, penalty factors and lambda scale as the module docstring.
    """
    x = _as_matrix(x, "X")
    y = _as_vector(y, x.shape[0], "y")
    lam = np.sort(np.asarray(lambdas, dtype=np.float64).ravel())[::-1]
    if lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError("lambdas must be a non-empty array of positive finite values")
    _check_alpha(alpha)
    vp = _penalty_weights(penalty_factor, x.shape[1])
    std = _standardise(x, y)
    return _fit_standardised(
        std, lam, alpha=alpha, vp=vp, tol=tol, n_threads=n_threads, truncate=False
    )


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")


@dataclass
class CVDesign:
    """One gene's K-fold CV data: ``x`` (n, p), ``y`` (n,), ``folds`` (n,) with labels
    ``labels`` (K,); ``full`` the standardisation of every row. :meth:`fold_fit` standardises
    the rows outside fold ``i`` (what that fold's fit sees), kept for later fits when ``keep``
    (fits that differ only in their penalty factors share them; otherwise one fold's matrix is
    in memory at a time)."""

    x: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    labels: np.ndarray
    full: _Standardised
    keep: bool = False
    _fold_fits: dict = field(default_factory=dict, init=False, repr=False)

    def fold_fit(self, i: int) -> _Standardised:
        if i in self._fold_fits:
            return self._fold_fits[i]
        fit = self.folds != self.labels[i]
        std = _standardise(self.x[fit], self.y[fit])
        if self.keep:
            self._fold_fits[i] = std
        return std


def cv_design(x: np.ndarray, y: np.ndarray, *, folds: np.ndarray, keep: bool = False) -> CVDesign:
    """Check ``x`` (n, p), ``y`` (n,), ``folds`` (n,) and standardise every row
    (:class:`CVDesign`; ``keep``: keep each fold's standardisation for later fits)."""
    x = _as_matrix(x, "X")
    n = x.shape[0]
    y = _as_vector(y, n, "y")
    folds = np.asarray(folds)
    if folds.shape != (n,) or not np.issubdtype(folds.dtype, np.integer):
        raise ValueError(f"folds must be an integer array of shape ({n},), got {folds.shape}")
    labels = np.unique(folds)
    if labels.size < 2:
        raise ValueError("folds must contain at least 2 distinct labels")
    return CVDesign(x, y, folds, labels, _standardise(x, y), keep)


class ElasticNetCV:
    """Elastic net with lambda chosen by K-fold CV over a glmnet-style path (cv.glmnet rules).

    Fitted attributes: ``coef_`` (p,) and ``intercept_`` on the original X scale at ``lambda_``
    (lambda.min, index ``lambda_index_`` into ``lambdas_``); ``lambdas_`` (L,) the (possibly
    truncated) path; ``cv_mse_`` (L,), ``cv_se_`` (L,); ``n_nonzero_`` non-zero coefficients at
    ``lambda_``; ``lambda_1se_``/``lambda_1se_index_``; ``coef_path_`` (L, p),
    ``intercept_path_`` (L,), ``dev_ratio_`` (L,) and ``path_n_nonzero_`` (L,) of the full-data
    path; ``fold_labels_`` (K,), ``fold_coef_`` (K, p) and ``fold_intercept_`` (K,) the fit of each
    CV fold (on the rows outside it) at ``lambda_``, and ``cv_predictions_`` (n,) every row's
    prediction from the fold fit that did not see it (models that nest the elastic net reuse
    them: :mod:`twasnet.models.deep`). ``tol`` is adelie's coordinate-descent tolerance (as
    glmnet's ``thresh``).
    """

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        n_lambda: int = 100,
        lambda_min_ratio: float | None = None,
        n_threads: int = 1,
        tol: float = 1e-7,
    ) -> None:
        _check_alpha(alpha)
        if n_lambda < 1:
            raise ValueError(f"n_lambda must be >= 1, got {n_lambda}")
        if lambda_min_ratio is not None and not 0.0 < lambda_min_ratio < 1.0:
            raise ValueError(f"lambda_min_ratio must be in (0, 1), got {lambda_min_ratio}")
        self.alpha = alpha
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self.n_threads = n_threads
        self.tol = tol

    def fit(
        self,
        X: np.ndarray,  # noqa: N803 - the conventional name
        y: np.ndarray,
        *,
        folds: np.ndarray,
        penalty_factor: np.ndarray | None = None,
    ) -> ElasticNetCV:
        """Fit on ``X`` (n, p) raw dosages and ``y`` (n,); ``folds`` (n,) integer CV labels.

        Raises ``ValueError`` for unusable data (constant y, no non-constant penalised column,
        fewer than 2 folds, non-finite values).
        """
        return self.fit_design(cv_design(X, y, folds=folds), penalty_factor=penalty_factor)

    def fit_design(
        self, design: CVDesign, *, penalty_factor: np.ndarray | None = None
    ) -> ElasticNetCV:
        """:meth:`fit` on a :func:`cv_design`: fits that differ only in ``penalty_factor``
        (``enet_annot``'s strengths) share its standardisations."""
        x, y, folds, std = design.x, design.y, design.folds, design.full
        n, p = x.shape
        labels = design.labels
        vp = _penalty_weights(penalty_factor, p)
        if std.y_sd == 0:
            raise ValueError("y is constant: nothing to predict")
        lambda_max = _lambda_max(std, vp, self.alpha)
        if not lambda_max > 0:
            raise ValueError(
                "no non-constant penalised column in X (all variants monomorphic or unpenalised)"
            )
        ratio = self.lambda_min_ratio
        if ratio is None:
            ratio = 0.01 if n < p else 1e-4
        steps = np.arange(self.n_lambda) / max(self.n_lambda - 1, 1)
        lambdas = lambda_max * ratio**steps
        kw = {"alpha": self.alpha, "vp": vp, "tol": self.tol, "n_threads": self.n_threads}
        path = _fit_standardised(std, lambdas, truncate=True, **kw)
        lambdas = path.lambdas

        fold_mse = np.empty((labels.size, lambdas.size))
        fold_w = np.empty(labels.size)
        fold_paths, cv_pred = [], np.empty((n, lambdas.size))
        for i, label in enumerate(labels):
            test = folds == label
            fpath = _fit_standardised(design.fold_fit(i), lambdas, truncate=False, **kw)
            pred = x[test] @ fpath.coef.T + fpath.intercept  # (n_test, L)
            fold_mse[i] = np.mean((y[test, None] - pred) ** 2, axis=0)
            fold_w[i] = test.sum()
            fold_paths.append(fpath)
            cv_pred[test] = pred
        cv_mse = fold_w @ fold_mse / fold_w.sum()
        cv_se = np.sqrt(fold_w @ (fold_mse - cv_mse) ** 2 / fold_w.sum() / max(labels.size - 1, 1))
        # lambda.min: the largest lambda attaining the minimum (lambdas are decreasing).
        idx = int(np.flatnonzero(cv_mse <= cv_mse.min())[0])
        idx_1se = int(np.flatnonzero(cv_mse <= cv_mse[idx] + cv_se[idx])[0])

        self.lambdas_ = lambdas
        self.cv_mse_ = cv_mse
        self.cv_se_ = cv_se
        self.lambda_index_ = idx
        self.lambda_ = float(lambdas[idx])
        self.lambda_1se_index_ = idx_1se
        self.lambda_1se_ = float(lambdas[idx_1se])
        self.coef_path_ = path.coef
        self.intercept_path_ = path.intercept
        self.dev_ratio_ = path.dev_ratio
        self.path_n_nonzero_ = np.count_nonzero(path.coef, axis=1)
        self.coef_ = path.coef[idx].copy()
        self.intercept_ = float(path.intercept[idx])
        self.n_nonzero_ = int(self.path_n_nonzero_[idx])
        self.fold_labels_ = labels
        self.fold_coef_ = np.stack([f.coef[idx] for f in fold_paths])
        self.fold_intercept_ = np.array([f.intercept[idx] for f in fold_paths])
        self.cv_predictions_ = cv_pred[:, idx].copy()
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """Predictions (m,) for ``X`` (m, p) raw dosages at ``lambda_``."""
        if not hasattr(self, "coef_"):
            raise RuntimeError("ElasticNetCV.predict called before fit")
        x = _as_matrix(X, "X")
        if x.shape[1] != self.coef_.shape[0]:
            raise ValueError(
                f"X has {x.shape[1]} columns; the model was fitted on {self.coef_.shape[0]}"
            )
        return x @ self.coef_ + self.intercept_


class ElasticNetModel:
    """PrediXcan-style elastic net: lambda by inner CV over a glmnet path, refit on all training."""

    def __init__(self, *, alpha: float = 0.5, n_lambda: int = 100, lambda_min_ratio=None) -> None:
        self.alpha = alpha
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self._fit = None  # a fitted twasnet.models.enet.ElasticNetCV

    def fit(self, inputs) -> ElasticNetModel:
        """Fit on :class:`twasnet.models.registry.TrainingInputs` (x, y, folds, threads)."""
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
