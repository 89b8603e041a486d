"""Nonlinear genotype terms: dominance deviations and pairwise products, their screen and design.

A *term* is a derived column of one gene's genotypes, ``(kind, a, b)``:

* ``("dominance", a, -1)``: the heterozygosity ``g_a (2 - g_a)`` of variant ``a`` (1 for
  heterozygotes with hard calls), so dosage + dominance code any function of three genotypes;
* ``("pair", a, b)``: the product ``z_a z_b`` of the standardised dosages of ``a < b``.

:func:`screen_terms` tests every candidate term against a residual (t test of the Pearson
correlation, ``n - 2`` df) with *weighted Bonferroni* levels: term ``k`` passes when
``p_k <= alpha * w_k / m`` for the ``m`` terms of its kind, the weights ``w_k >= 0`` averaging 1
over them, which bounds the family-wise error of each kind at ``alpha`` for any weights fixed
before the data are seen (Genovese, Roeder & Wasserman 2006). Equal weights are plain Bonferroni;
annotation-derived weights (:mod:`twasnet.models.deep.prior`) spend the level where the
annotations point, which a penalty factor on additive effects cannot do. No torch here: the
elastic-net control on the same terms (``enet_features``) imports only numpy and scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from twasnet.adjust import standardisation

__all__ = [
    "ScreenGenotypes",
    "Terms",
    "candidate_variants",
    "candidates_by_rank",
    "heterozygosity",
    "marginal_ranking",
    "screen_terms",
    "term_matrix",
    "variant_nonlinear_pvalues",
]

_MIN_VAR = 1e-8  # a product whose variance is below this (standardised scale) is constant


@dataclass(frozen=True)
class Terms:
    """Screened terms: ``kind`` (k,) "dominance"/"pair", ``a``/``b`` (k,) variant columns (``b``
    -1 for dominance), ``pvalue`` (k,) and ``weight`` (k,) of the screen, strongest first."""

    kind: tuple[str, ...] = ()
    a: tuple[int, ...] = ()
    b: tuple[int, ...] = ()
    pvalue: tuple[float, ...] = ()
    weight: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.kind)

    def as_dict(self) -> dict:
        return {"kind": list(self.kind), "a": list(self.a), "b": list(self.b)}

    @classmethod
    def from_dict(cls, d: dict) -> Terms:
        n = len(d["kind"])
        return cls(
            tuple(d["kind"]),
            tuple(int(v) for v in d["a"]),
            tuple(int(v) for v in d["b"]),
            (math.nan,) * n,
            (math.nan,) * n,
        )


def heterozygosity(x: np.ndarray) -> np.ndarray:
    """``g (2 - g)`` (n, p) of raw dosages ``x`` (n, p)."""
    x = np.asarray(x, dtype=np.float64)
    return x * (2.0 - x)


def _standardised(a: np.ndarray) -> np.ndarray:
    mean, sd = standardisation(a)
    return (a - mean) / sd  # constant columns -> 0


class ScreenGenotypes:
    """Raw dosages ``x`` (n, p) of one set of rows with what the screens over them need, each
    computed once and shared by every screen of these rows (one per screening weight option):
    ``mean``/``sd`` (p,) (:func:`twasnet.adjust.standardisation`), ``z`` (n, p) standardised
    dosages, ``dominance`` (n, p) standardised heterozygosities with each column's dosage
    regressed out (so a dominance test does not pick up what is left of an additive effect)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self.mean, self.sd = standardisation(self.x)

    @cached_property
    def z(self) -> np.ndarray:
        return (self.x - self.mean) / self.sd  # constant columns -> 0

    @cached_property
    def dominance(self) -> np.ndarray:
        z, d = self.z, _standardised(heterozygosity(self.x))
        beta = np.einsum("ij,ij->j", z, d) / self.x.shape[0]  # z has unit variance (or is 0)
        return _standardised(d - z * beta)

    def ranking(self, y: np.ndarray) -> np.ndarray:
        """Columns by decreasing |correlation| with ``y`` (n,) (constant last; ties by column)."""
        yc = np.asarray(y, dtype=np.float64) - np.mean(y)
        score = np.abs(self.z.T @ yc)
        return np.lexsort((np.arange(score.size), -score))


def _screened(x) -> ScreenGenotypes:
    return x if isinstance(x, ScreenGenotypes) else ScreenGenotypes(x)


def _t_pvalues(corr: np.ndarray, n: int) -> np.ndarray:
    """Two-sided p-values of Pearson correlations ``corr`` on ``n`` rows (t test, n - 2 df)."""
    from scipy.special import stdtr

    r2 = np.minimum(corr**2, 1.0 - 1e-15)
    t = np.sqrt((n - 2) * r2 / (1.0 - r2))
    return 2.0 * stdtr(n - 2, -t)


def _pair_weight_norm(w: np.ndarray) -> float:
    """Mean of ``w_a w_b`` over all pairs a < b (so ``w_a w_b / norm`` averages 1)."""
    p = w.size
    return float((w.sum() ** 2 - (w**2).sum()) / (p * (p - 1)))


def _screen_pairs(z, r, w, *, alpha, block):
    """Passing pairs of the standardised dosages ``z`` (n, p) against the unit-sd residual ``r``:
    (a, b, pvalue, weight) arrays. First a lenient bound at the largest weight, then exact
    p-values only for the pairs that pass it."""
    from scipy.special import stdtrit

    n, p = z.shape
    m = p * (p - 1) / 2
    norm = _pair_weight_norm(w)
    if not norm > 0:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) * 2
    w_max = float(w.max()) ** 2 / norm
    t_crit = -float(stdtrit(n - 2, min(0.5, alpha * w_max / m / 2)))
    r_crit = t_crit / math.sqrt(n - 2 + t_crit**2)
    zr, z2 = z * r[:, None], z * z
    found = []
    for start in range(0, p, block):
        stop = min(p, start + block)
        mean_rq = zr[:, start:stop].T @ z / n  # (b, p): cov(z_a z_b, r), r centred with sd 1
        mean_q = z[:, start:stop].T @ z / n
        var_q = z2[:, start:stop].T @ z2 / n - mean_q**2
        ok = var_q > _MIN_VAR
        corr = np.zeros_like(mean_rq)
        corr[ok] = mean_rq[ok] / np.sqrt(var_q[ok])
        upper = np.arange(p)[None, :] > np.arange(start, stop)[:, None]
        rows, cols = np.nonzero((np.abs(corr) > r_crit) & upper)
        found.append((rows + start, cols, corr[rows, cols]))
    a = np.concatenate([f[0] for f in found]).astype(np.int64)
    b = np.concatenate([f[1] for f in found]).astype(np.int64)
    pv = _t_pvalues(np.concatenate([f[2] for f in found]), n)
    weight = w[a] * w[b] / norm
    keep = pv <= alpha * weight / m
    return a[keep], b[keep], pv[keep], weight[keep]


def screen_terms(
    x: np.ndarray | ScreenGenotypes,
    residual: np.ndarray,
    *,
    candidates: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    dominance: bool = True,
    max_terms: int = 8,
    alpha: float = 0.05,
    block: int = 512,
) -> Terms:
    """Dominance and pair terms of raw dosages ``x`` (n, p) that correlate with ``residual`` (n,).

    Dominance terms are tested for every variant, pairs among ``candidates`` (column indices;
    None: all variants). ``weights`` (p,) >= 0 are per-variant screening weights (None: equal),
    normalised here to mean 1 over the variants (dominance) and to a mean pair weight ``w_a w_b``
    of 1 over the candidate pairs. ``alpha`` is the family-wise level of the whole screen, split
    evenly between the two kinds. Returns at most ``max_terms`` passing terms, the smallest
    ``pvalue / weight`` first (ties: dominance first, lower columns first).
    """
    g = _screened(x)
    r = np.asarray(residual, dtype=np.float64)
    n, p = g.x.shape
    r = r - r.mean()
    if max_terms < 1 or n < 4 or not r.std() > 0 or p == 0:
        return Terms()
    r = r / r.std()
    w = np.ones(p) if weights is None else np.clip(np.asarray(weights, np.float64), 0.0, None)
    if not w.mean() > 0:
        w = np.ones(p)
    level = alpha / 2.0 if dominance else alpha
    parts = []  # (kind order, a, b, pvalue, weight)
    if dominance:
        d = g.dominance
        pv = np.where(np.abs(d).sum(0) > 0, _t_pvalues(d.T @ r / n, n), 1.0)
        wd = w / w.mean()
        keep = np.flatnonzero(pv <= level * wd / p)
        parts.append((np.zeros(keep.size), keep, np.full(keep.size, -1), pv[keep], wd[keep]))
    cand = np.arange(p) if candidates is None else np.unique(np.asarray(candidates, np.int64))
    if cand.size >= 2:
        a, b, pv, wt = _screen_pairs(g.z[:, cand], r, w[cand], alpha=level, block=block)
        parts.append((np.ones(a.size), cand[a], cand[b], pv, wt))
    order_kind, a, b, pv, wt = (np.concatenate(c) for c in zip(*parts, strict=True))
    ratio = np.where(wt > 0, pv / np.maximum(wt, 1e-300), np.inf)
    order = np.lexsort((b, a, order_kind, ratio))[:max_terms]
    kinds = tuple("dominance" if order_kind[i] == 0 else "pair" for i in order)
    return Terms(
        kinds,
        tuple(int(v) for v in a[order]),
        tuple(int(v) for v in b[order]),
        tuple(float(v) for v in pv[order]),
        tuple(float(v) for v in wt[order]),
    )


def marginal_ranking(x: np.ndarray | ScreenGenotypes, y: np.ndarray) -> np.ndarray:
    """Columns of ``x`` (n, p) by decreasing |correlation| with ``y`` (n,) (constant last; ties
    by column)."""
    return _screened(x).ranking(y)


def candidate_variants(
    x: np.ndarray | ScreenGenotypes,
    y: np.ndarray,
    *,
    size: int,
    weights: np.ndarray | None = None,
    weighted_share: float = 0.5,
) -> np.ndarray:
    """Column indices (sorted) the nonlinear search considers: the ``size`` variants most
    associated with ``y`` on these rows (:func:`candidates_by_rank` of
    :func:`marginal_ranking`)."""
    return candidates_by_rank(
        marginal_ranking(x, y), size=size, weights=weights, weighted_share=weighted_share
    )


def candidates_by_rank(
    order: np.ndarray,
    *,
    size: int,
    weights: np.ndarray | None = None,
    weighted_share: float = 0.5,
) -> np.ndarray:
    """The ``size`` first columns of ``order`` (p,), a :func:`marginal_ranking`, sorted. With
    ``weights`` (p,) that are not all equal, a ``weighted_share`` of them are instead the
    variants of largest weight (ties by stronger association), so annotations can bring in
    variants with no marginal effect (a pure interaction); ``weighted_share`` 1 adds ``size``
    such variants to the ``size`` most associated ones (at most ``2 size`` in all)."""
    if weights is None or size < 2 or np.ptp(np.asarray(weights)) == 0:
        return np.sort(order[:size])
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    n_weighted = int(round(size * min(weighted_share, 1.0)))
    by_weight = np.lexsort((rank, -np.asarray(weights, dtype=np.float64)))[:n_weighted]
    n_rest = size if weighted_share >= 1 else size - by_weight.size
    rest = order[~np.isin(order, by_weight)][:n_rest]
    return np.sort(np.concatenate([by_weight, rest]))


def term_matrix(x: np.ndarray, terms: Terms, *, x_mean: np.ndarray, x_sd: np.ndarray) -> np.ndarray:
    """The raw term columns (n, k) of dosages ``x`` (n, p): heterozygosity for dominance terms,
    products of dosages standardised with ``x_mean``/``x_sd`` (p,) for pairs (the statistics
    of the rows the terms were screened on, so new individuals get the same columns)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((x.shape[0], len(terms)))
    for k, (kind, a, b) in enumerate(zip(terms.kind, terms.a, terms.b, strict=True)):
        if kind == "dominance":
            out[:, k] = x[:, a] * (2.0 - x[:, a])
        else:
            za = (x[:, a] - x_mean[a]) / x_sd[a]
            zb = (x[:, b] - x_mean[b]) / x_sd[b]
            out[:, k] = za * zb
    return out


def variant_nonlinear_pvalues(x: np.ndarray, y: np.ndarray, *, block: int = 512) -> np.ndarray:
    """Per-variant evidence of a nonlinear effect (p,): the smaller of the dominance test of
    variant ``a`` and its best pair (Bonferroni over its ``p - 1`` partners), times 2.

    What the across-gene nonlinear prior learns from (:mod:`twasnet.models.deep.prior`); ``x``
    (n, p) raw dosages and ``y`` (n,) of training individuals only.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = x.shape
    r = y - y.mean()
    if n < 4 or not r.std() > 0:
        return np.ones(p)
    r = r / r.std()
    g = ScreenGenotypes(x)
    d = g.dominance
    dom = np.where(np.abs(d).sum(0) > 0, _t_pvalues(d.T @ r / n, n), 1.0)
    best = np.zeros(p)
    z = g.z
    zr, z2 = z * r[:, None], z * z
    for start in range(0, p, block):
        stop = min(p, start + block)
        mean_q = z[:, start:stop].T @ z / n
        var_q = z2[:, start:stop].T @ z2 / n - mean_q**2
        ok = var_q > _MIN_VAR
        corr = np.zeros_like(mean_q)
        corr[ok] = (zr[:, start:stop].T @ z / n)[ok] / np.sqrt(var_q[ok])
        corr[np.arange(stop - start), np.arange(start, stop)] = 0.0  # a with itself
        best[start:stop] = np.abs(corr).max(axis=1) if p > 1 else 0.0
    pair = np.minimum(1.0, _t_pvalues(best, n) * max(p - 1, 1))
    return np.minimum(1.0, 2.0 * np.minimum(dom, pair))
