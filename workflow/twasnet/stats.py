"""Paired comparisons of two models across genes: tests, bootstrap intervals, multiplicity.

Everything here takes the per-gene accuracies of two models as paired arrays. The tests are
scipy's; this module fixes which variant of each is used and how zeros are handled:

- Wilcoxon signed-rank (the primary test): ``zero_method="pratt"`` (zero differences are ranked,
  then their ranks dropped), scipy's ``method="auto"``: the exact null distribution when there are
  at most 50 differences without ties or zeros, exhaustive permutations up to 13 differences with
  ties or zeros, the tie-corrected normal approximation otherwise;
- paired t-test (``scipy.stats.ttest_rel``);
- sign test: the number of genes where A is better among genes where A and B differ,
  ``scipy.stats.binomtest`` with p = 1/2 (zero differences dropped).

``alternative`` is scipy's: ``"greater"`` tests whether A is better than B (d = A − B > 0).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from twasnet.metrics import squared_correlation

ALTERNATIVES = ("two-sided", "greater", "less")
TEST_NAMES = ("wilcoxon", "t", "sign")
# Wilcoxon: scipy's "auto" uses the exact distribution up to this many differences (no ties/zeros)
# and exhaustive permutations up to _PERMUTATION_MAX when there are ties or zeros.
_EXACT_MAX = 50
_PERMUTATION_MAX = 13


def _differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired arrays must be 1-D of equal length: {a.shape} vs {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired values must be finite; drop genes without a valid result first")
    return a - b


def wilcoxon_method(d: np.ndarray) -> str:
    """Which null distribution scipy's ``method="auto"`` uses for differences ``d`` (n,)."""
    d = np.asarray(d, dtype=np.float64)
    absolute = np.abs(d[d != 0])
    ties_or_zeros = bool((d == 0).any()) or len(np.unique(absolute)) < absolute.size
    if not ties_or_zeros and d.size <= _EXACT_MAX:
        return "exact"
    if ties_or_zeros and d.size <= _PERMUTATION_MAX:
        return "permutation"
    return "normal"


def paired_tests(a: np.ndarray, b: np.ndarray, *, alternative: str = "two-sided") -> dict:
    """Wilcoxon signed-rank, paired t and sign tests of ``a`` (n,) against ``b`` (n,).

    Returns statistics and p-values keyed ``wilcoxon_stat``, ``wilcoxon_p``,
    ``wilcoxon_method``, ``t_stat``, ``t_p``, ``sign_n_better``, ``sign_n_worse``, ``sign_p``;
    p-values are NaN when a test is undefined (fewer than 2 genes, or all differences zero).
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    d = _differences(a, b)
    out = {
        "wilcoxon_stat": np.nan,
        "wilcoxon_p": np.nan,
        "wilcoxon_method": "",
        "t_stat": np.nan,
        "t_p": np.nan,
        "sign_n_better": int((d > 0).sum()),
        "sign_n_worse": int((d < 0).sum()),
        "sign_p": np.nan,
    }
    nonzero = out["sign_n_better"] + out["sign_n_worse"]
    if nonzero == 0 or d.size < 2:
        return out
    res = stats.wilcoxon(d, zero_method="pratt", alternative=alternative, method="auto")
    out |= {
        "wilcoxon_stat": float(res.statistic),
        "wilcoxon_p": float(res.pvalue),
        "wilcoxon_method": wilcoxon_method(d),
    }
    res = stats.ttest_rel(a, b, alternative=alternative)
    out |= {"t_stat": float(res.statistic), "t_p": float(res.pvalue)}
    res = stats.binomtest(out["sign_n_better"], nonzero, p=0.5, alternative=alternative)
    out["sign_p"] = float(res.pvalue)
    return out


def bootstrap_ci(
    d: np.ndarray,
    *,
    statistic: str,
    n_bootstrap: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval over genes for the mean or median of differences ``d`` (n,).

    Genes are resampled with replacement ``n_bootstrap`` times from ``rng`` (scipy.stats.bootstrap);
    (NaN, NaN) when there are fewer than 2 genes.
    """
    functions = {"mean": np.mean, "median": np.median}
    if statistic not in functions:
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    d = np.asarray(d, dtype=np.float64)
    if d.size < 2:
        return float("nan"), float("nan")
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    res = stats.bootstrap(
        (d,),
        functions[statistic],
        n_resamples=n_bootstrap,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=rng,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values for ``p`` (m,); NaN entries stay NaN and do not count."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (scipy's ``false_discovery_control``) for ``p`` (m,);
    NaN entries stay NaN and do not count."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.isfinite(p)
    if valid.any():
        out[valid] = stats.false_discovery_control(p[valid], method="bh")
    return out


def per_gene_bootstrap(
    observed: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    n_bootstrap: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> dict:
    """Paired bootstrap over held-out individuals of one gene: ΔR² = R²(a) − R²(b).

    ``observed``, ``pred_a``, ``pred_b`` are (n,) over the same held-out individuals. Individuals
    are resampled with replacement; returns ``delta`` (on all individuals), the percentile interval
    ``ci_low``/``ci_high`` and a two-sided bootstrap ``p`` = 2·min(P*(Δ ≤ 0), P*(Δ ≥ 0)).
    """
    y = np.asarray(observed, dtype=np.float64)
    a = np.asarray(pred_a, dtype=np.float64)
    b = np.asarray(pred_b, dtype=np.float64)
    if not (y.shape == a.shape == b.shape) or y.ndim != 1:
        raise ValueError(f"shapes differ: {y.shape}, {a.shape}, {b.shape}")
    delta = float(squared_correlation(y, a) - squared_correlation(y, b))
    idx = rng.integers(0, y.size, size=(n_bootstrap, y.size))
    boot = squared_correlation(y[idx], a[idx]) - squared_correlation(y[idx], b[idx])
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    p = min(1.0, 2.0 * min(np.mean(boot <= 0), np.mean(boot >= 0)))
    return {"delta": delta, "ci_low": float(low), "ci_high": float(high), "p": float(p)}
