"""Elastic net with per-variant penalty factors from an across-gene annotation prior (EpiXcan-like).

Two steps, both on training individuals only:

1. :func:`fit_enet_prior` fits one model across all genes mapping a variant's features
   ``a_j`` (user annotations, ``|distance to TSS| / window``, MAF; see
   :func:`twasnet.models.features.annotation_features`) to a prior relevance ``r_j > 0``.
2. :class:`AnnotatedElasticNetModel` fits, per gene, the same elastic net as ``enet``
   (:class:`twasnet.models.enet.ElasticNetCV`: same solver, folds and lambda rules) with glmnet
   penalty factors ``pf_j = r_j ** -tau`` (ElasticNetCV rescales them to sum to p), so variants the
   annotations deem relevant are penalised less. ``tau`` is chosen from a grid by the same inner
   CV: the tau whose lambda path reaches the smallest CV MSE (ties -> the smaller tau). ``tau = 0``
   is exactly plain ``enet``.

The prior (why this model)
--------------------------
Per gene, every variant that is not constant among the training individuals gets the marginal
association test of its dosage with the covariate-adjusted expression (the t-test of simple
regression, ``F = (n - 2) r^2 / (1 - r^2)`` on 1 and n - 2 df, scipy). A variant is a *hit* when its
p-value is below ``p_threshold`` (default 1e-3). Across all variants of all genes, an L2-penalised
logistic regression (scikit-learn) models ``P(hit | a_j)`` on features standardised with the
mean / sd over all genes' variants; the penalty strength is chosen by cross-validation with whole
genes held out (``GroupKFold``, log loss, one-SE rule towards stronger shrinkage). The
relevance is the fitted hit probability divided by its mean over all variants used to fit the
prior, i.e. an enrichment with mean 1.

Why: the quantity that should steer the penalty is the *relative* enrichment of eQTL signal in
a variant class, and ``P(hit | a) / P(hit)`` is exactly that (for rare hits the logistic odds ratio
is the risk ratio). Unlike a Poisson / Gamma GLM of the chi-square itself, the hit indicator is not
dominated by the handful of genes with huge chi-squares, and the null background (chi-square ~ 1 for
every variant) does not attenuate the enrichment: null variants are hits with a small, flat
probability. The gene-held-out CV over the L2 strength makes the prior shrink to flat (relevance
1 everywhere) when annotations carry no signal, so tau then matters little. With fewer than
``min_hits`` hits (or hits in fewer than 2 genes) there is nothing to learn from and the prior is
flat by construction. Only per-variant summaries enter the prior state (feature mean / sd and GLM
coefficients); no individual-level data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from twasnet.adjust import is_constant
from twasnet.errors import InputError
from twasnet.io.store import read_json, write_json
from twasnet.models.features import feature_standardisation

__all__ = [
    "AnnotatedElasticNetModel",
    "EnetPriorGene",
    "fit_enet_prior",
    "load_enet_prior",
    "prior_relevance",
    "save_enet_prior",
]

PRIOR_KIND = "enet_annot_prior/logistic_hits/v1"
DEFAULT_P_THRESHOLD = 1e-3
DEFAULT_C_GRID = tuple(float(c) for c in np.logspace(-4, 2, 13))  # sklearn's inverse L2 strength
_MIN_HITS = 10
_MAX_CV_FOLDS = 5
_ETA_CLIP = 30.0  # |logit| bound: keeps r (and r ** -tau) finite for far-out feature values


@dataclass(frozen=True)
class EnetPriorGene:
    """One gene's training data for the prior.

    ``x`` (n_train, p) raw dosages of training individuals, ``y`` (n_train,) covariate-adjusted
    expression of the same individuals, ``features`` (p, d) per-variant features.
    """

    x: np.ndarray
    y: np.ndarray
    features: np.ndarray


def marginal_pvalues(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Marginal regression test of every column of ``x`` (n, p) on ``y`` (n,).

    Returns ``(pvalue, usable)``, both (p,): the two-sided p-value of the simple-regression slope
    (NaN where unusable) and whether the column is non-constant (and y non-constant, n >= 3).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = x.shape
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    sxx = np.einsum("ij,ij->j", xc, xc)
    syy = float(yc @ yc)
    usable = ~is_constant(x.mean(axis=0), np.sqrt(sxx / n))
    pvalue = np.full(p, np.nan)
    if n < 3 or not syy > 0:
        return pvalue, np.zeros(p, dtype=bool)
    r2 = (xc[:, usable].T @ yc) ** 2 / (sxx[usable] * syy)
    r2 = np.minimum(r2, 1.0 - 1e-15)
    f_stat = (n - 2) * r2 / (1.0 - r2)
    pvalue[usable] = stats.f.sf(f_stat, 1, n - 2)
    return pvalue, usable


def _check_gene(gene: EnetPriorGene, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(gene.x, dtype=np.float64)
    y = np.asarray(gene.y, dtype=np.float64)
    a = np.asarray(gene.features, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or a.ndim != 2 or a.shape[0] != x.shape[1]:
        raise ValueError(
            f"prior gene #{index}: shapes x {x.shape}, y {y.shape}, features {a.shape} do not "
            "agree; expected x (n, p), y (n,), features (p, d)"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.isfinite(a))):
        raise ValueError(f"prior gene #{index}: x, y or features contain NaN or infinite values")
    return x, y, a


def fit_enet_prior(
    genes: list[EnetPriorGene],
    *,
    seed: int,
    p_threshold: float = DEFAULT_P_THRESHOLD,
    c_grid: tuple[float, ...] = DEFAULT_C_GRID,
    min_hits: int = _MIN_HITS,
) -> dict:
    """Fit the across-gene prior (module docstring) on training individuals; JSON-able state.

    ``seed`` fixes the assignment of genes to the CV folds that choose the L2 strength.
    """
    if not genes:
        raise ValueError("fit_enet_prior needs at least one gene")
    if not 0.0 < p_threshold < 1.0:
        raise ValueError(f"p_threshold must be in (0, 1), got {p_threshold}")
    feats, hits, usable_all = [], [], []
    d = None
    for g, gene in enumerate(genes):
        x, y, a = _check_gene(gene, g)
        if d is None:
            d = a.shape[1]
        elif a.shape[1] != d:
            raise ValueError(f"prior gene #{g} has {a.shape[1]} features; gene #0 has {d}")
        pvalue, usable = marginal_pvalues(x, y)
        feats.append(a)
        usable_all.append(usable)
        hits.append(usable & (pvalue < p_threshold))
    return fit_hit_prior(
        feats, hits, usable_all, seed=seed, p_threshold=p_threshold, c_grid=c_grid,
        min_hits=min_hits,
    )  # fmt: skip


def fit_hit_prior(
    feats: list[np.ndarray],
    hits: list[np.ndarray],
    usable_all: list[np.ndarray],
    *,
    seed: int,
    p_threshold: float,
    c_grid: tuple[float, ...] = DEFAULT_C_GRID,
    min_hits: int = _MIN_HITS,
) -> dict:
    """The enrichment model of the module docstring from per-gene ``feats`` (p_g, d), ``hits``
    (p_g,) bool and ``usable_all`` (p_g,) bool: ``P(hit | a)`` by L2 logistic regression with
    the strength chosen by gene-held-out CV. Shared by this prior (hits: marginal association)
    and the deep models' nonlinear prior (hits: evidence of a nonlinear effect)."""
    d = feats[0].shape[1]
    groups = [np.full(a.shape[0], g) for g, a in enumerate(feats)]
    a_all = np.concatenate(feats)
    usable = np.concatenate(usable_all)
    hit = np.concatenate(hits)
    group = np.concatenate(groups)
    if a_all.shape[0] == 0:
        raise ValueError("fit_hit_prior: the genes have no variants")

    mean, sd = feature_standardisation(feats)
    z_all = (a_all - mean) / sd
    z, h, grp = z_all[usable], hit[usable], group[usable]
    n_hits = int(h.sum())
    n_hit_genes = int(np.unique(grp[h]).size)
    state = {
        "kind": PRIOR_KIND,
        "n_features": int(d),
        "feature_mean": mean.tolist(),
        "feature_sd": sd.tolist(),
        "p_threshold": float(p_threshold),
        "n_genes": len(feats),
        "n_variants": int(usable.sum()),
        "n_hits": n_hits,
        "n_hit_genes": n_hit_genes,
        "seed": int(seed),
    }
    if n_hits < min_hits or n_hit_genes < 2 or n_hits == h.size:
        # Nothing to learn from: flat relevance (coefficients 0, intercept the hit rate).
        intercept = _logit_rate(n_hits, h.size)
        return state | {
            "coef": [0.0] * int(d),
            "intercept": intercept,
            "normaliser": float(expit(intercept)),
            "c": 0.0,
            "c_grid": [],
            "cv_log_loss": [],
            "cv_log_loss_se": [],
            "flat_reason": f"{n_hits} hits in {n_hit_genes} genes (need >= {min_hits} in >= 2)",
        }

    c_grid = tuple(sorted(float(c) for c in c_grid))
    cv_loss, cv_se = _cv_log_loss(z, h, grp, c_grid=c_grid, seed=seed)
    # One-SE rule (as cv.glmnet's lambda.1se): the strongest shrinkage towards a flat prior whose
    # CV loss is within one SE of the minimum; spurious enrichment from few hits is shrunk away.
    low = int(np.argmin(cv_loss))
    best = int(np.flatnonzero(cv_loss <= cv_loss[low] + cv_se[low])[0])
    model = _logistic(c_grid[best]).fit(z, h)
    coef = model.coef_.ravel()
    intercept = float(model.intercept_[0])
    eta = np.clip(z_all @ coef + intercept, -_ETA_CLIP, _ETA_CLIP)
    normaliser = float(expit(eta).mean())
    return state | {
        "coef": coef.tolist(),
        "intercept": intercept,
        "normaliser": normaliser,
        "c": c_grid[best],
        "c_grid": list(c_grid),
        "cv_log_loss": cv_loss.tolist(),
        "cv_log_loss_se": cv_se.tolist(),
        "flat_reason": "",
    }


def _logit_rate(k: int, n: int) -> float:
    rate = min(max((k + 0.5) / (n + 1.0), 1e-12), 1 - 1e-12)
    return float(math.log(rate / (1 - rate)))


def _logistic(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, solver="lbfgs", max_iter=1000, tol=1e-8)


def _cv_log_loss(
    z: np.ndarray, h: np.ndarray, grp: np.ndarray, *, c_grid: tuple[float, ...], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out log loss per variant for each C, with whole genes held out; folds by ``seed``.

    Returns ``(loss, se)``, both (len(c_grid),): the fold-size-weighted mean of the fold losses
    and its standard error (cv.glmnet's ``cvsd``).
    """
    n_groups = np.unique(grp).size
    splitter = GroupKFold(n_splits=min(_MAX_CV_FOLDS, n_groups), shuffle=True, random_state=seed)
    fold_loss, fold_w = [], []
    for train, test in splitter.split(z, h, grp):
        if np.unique(h[train]).size < 2:
            continue  # a fold with no hit to learn from says nothing about C
        losses = []
        for c in c_grid:
            model = _logistic(c).fit(z[train], h[train])
            prob = np.clip(model.predict_proba(z[test])[:, 1], 1e-12, 1 - 1e-12)
            losses.append(-np.mean(np.where(h[test], np.log(prob), np.log1p(-prob))))
        fold_loss.append(losses)
        fold_w.append(test.size)
    if not fold_loss:
        return np.zeros(len(c_grid)), np.zeros(len(c_grid))
    fold_loss = np.asarray(fold_loss)
    w = np.asarray(fold_w, dtype=np.float64)
    loss = w @ fold_loss / w.sum()
    se = np.sqrt(w @ (fold_loss - loss) ** 2 / w.sum() / max(len(w) - 1, 1))
    return loss, se


def prior_relevance(state: dict, features: np.ndarray) -> np.ndarray:
    """Prior relevance ``r`` (p,) > 0 of variants with ``features`` (p, d); mean 1 over the
    variants the prior was fitted on."""
    a = np.asarray(features, dtype=np.float64)
    d = int(state["n_features"])
    if a.ndim != 2 or a.shape[1] != d:
        raise ValueError(f"features must have shape (p, {d}) as the prior; got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("features contain NaN or infinite values")
    z = (a - np.asarray(state["feature_mean"])) / np.asarray(state["feature_sd"])
    eta = np.clip(z @ np.asarray(state["coef"]) + float(state["intercept"]), -_ETA_CLIP, _ETA_CLIP)
    return expit(eta) / float(state["normaliser"])


def save_enet_prior(state: dict, path: str | Path) -> None:
    """Write the prior state as JSON, atomically."""
    write_json(state, path)


_PRIOR_KEYS = (
    "kind",
    "n_features",
    "feature_mean",
    "feature_sd",
    "coef",
    "intercept",
    "normaliser",
)


def load_enet_prior(path: str | Path) -> dict:
    """Read a prior written by :func:`save_enet_prior`; raises ``InputError`` if it is not one."""
    path = Path(path)
    try:
        state = read_json(path)
    except FileNotFoundError:
        raise InputError(
            f"{path}: enet_annot prior file not found; run the prior-fitting step first"
        ) from None
    except ValueError as error:
        raise InputError(f"{path}: not valid JSON ({error}); delete it and rerun") from None
    missing = [k for k in _PRIOR_KEYS if not isinstance(state, dict) or k not in state]
    if missing or state.get("kind") != PRIOR_KIND:
        raise InputError(
            f"{path}: not an enet_annot prior of kind {PRIOR_KIND!r} (missing {missing}, kind "
            f"{state.get('kind') if isinstance(state, dict) else None!r}); delete it and rerun "
            "the prior-fitting step"
        )
    return state


class AnnotatedElasticNetModel:
    """Elastic net with penalty factors ``r ** -tau`` from the across-gene prior; tau by inner CV.

    Registry protocol: ``fit(inputs) -> self``, ``predict(x)``, ``importance()`` (coef, (p,)),
    ``hyperparameters()``, ``n_nonzero()``, ``state()``. After ``fit``: ``tau_`` the chosen
    strength, ``cv_min_mse_`` (len(strengths),) the minimum CV MSE of each strength's path,
    ``fit_`` the chosen :class:`~twasnet.models.enet.ElasticNetCV`, ``relevance_`` (p,).
    """

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        n_lambda: int = 100,
        lambda_min_ratio=None,
        strengths: list[float] = (0, 1),
        prior_path: str | None = None,
        prior_state: dict | None = None,
        **ignored,
    ) -> None:
        if prior_path is None and prior_state is None:
            raise ValueError(
                "enet_annot needs prior_path: the JSON prior written by fit_enet_prior / "
                "save_enet_prior (the workflow fits it on training individuals before training)"
            )
        taus = sorted({float(t) for t in strengths})
        if not taus or not all(math.isfinite(t) and t >= 0 for t in taus):
            raise ValueError(
                f"strengths must be a non-empty list of finite values >= 0: {strengths}"
            )
        self.alpha = alpha
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self.strengths = taus
        self.prior_path = None if prior_path is None else str(prior_path)
        self._prior: dict | None = prior_state
        self.fit_ = None

    def _load_prior(self) -> dict:
        if self._prior is None:
            self._prior = load_enet_prior(self.prior_path)
        return self._prior

    def fit(self, inputs) -> AnnotatedElasticNetModel:
        """Fit on :class:`~twasnet.models.registry.TrainingInputs` (uses x, y, folds, features)."""
        from twasnet.models.enet import ElasticNetCV, cv_design

        prior = self._load_prior()
        features = getattr(inputs, "features", None)
        p = np.asarray(inputs.x).shape[1]
        if features is None or np.asarray(features).shape[0] != p:
            raise ValueError(f"enet_annot needs features (p={p}, d); got {np.shape(features)}")
        if np.asarray(features).shape[1] != int(prior["n_features"]):
            raise InputError(
                f"{self.prior_path}: the prior was fitted on {prior['n_features']} features, this "
                f"gene has {np.asarray(features).shape[1]}; the annotations changed since the "
                "prior was fitted: delete the prior and rerun"
            )
        relevance = prior_relevance(prior, features)
        design = cv_design(inputs.x, inputs.y, folds=inputs.folds, keep=len(self.strengths) > 1)
        fits, cv_min = [], []
        for tau in self.strengths:
            pf = None if tau == 0 else relevance**-tau
            enet = ElasticNetCV(
                alpha=self.alpha,
                n_lambda=self.n_lambda,
                lambda_min_ratio=self.lambda_min_ratio,
                n_threads=inputs.threads,
            ).fit_design(design, penalty_factor=pf)
            fits.append(enet)
            cv_min.append(float(enet.cv_mse_.min()))
        best = int(np.argmin(cv_min))  # first minimum = smallest tau (strengths sorted)
        self.fit_ = fits[best]
        self.tau_ = self.strengths[best]
        self.cv_min_mse_ = np.asarray(cv_min)
        self.relevance_ = relevance
        return self

    def _fitted(self):
        if self.fit_ is None:
            raise RuntimeError("AnnotatedElasticNetModel used before fit")
        return self.fit_

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions (m,) for dosages ``x`` (m, p)."""
        return self._fitted().predict(x)

    def importance(self) -> np.ndarray:
        """Coefficients (p,) on the original dosage scale."""
        return np.asarray(self._fitted().coef_, dtype=np.float64)

    def hyperparameters(self) -> dict:
        fit = self._fitted()
        return {
            "alpha": self.alpha,
            "lambda": float(fit.lambda_),
            "lambda_index": int(fit.lambda_index_),
            "n_lambda_path": int(len(fit.lambdas_)),
            "tau": float(self.tau_),
            "strengths": list(self.strengths),
            "cv_min_mse": [float(v) for v in self.cv_min_mse_],
        }

    def n_nonzero(self) -> int:
        return int(np.count_nonzero(self._fitted().coef_))

    def state(self) -> dict:
        """Prediction is ``intercept + dosages @ coef`` on the original dosage scale."""
        fit = self._fitted()
        return {
            "kind": "linear",
            "coef": [float(v) for v in fit.coef_],
            "intercept": float(fit.intercept_),
        } | self.hyperparameters()
