"""Functional annotations of the simulated SNVs and the log-weights that tie them to causality.

Kept apart from :mod:`.traits` so that ``ANNOTATION_COLUMNS`` and the two log-weight functions
import with numpy alone (benchmarks/annotation_ceiling.py and the tests use them).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ANNOTATION_COLUMNS",
    "annotated_rows",
    "causal_log_weight",
    "nonlinear_log_weight",
    "simulate_annotations",
    "standardise_columns",
]

ANNOTATION_COLUMNS = (
    "promoter",
    "enhancer",
    "coding",
    "tf_binding",
    "open_chromatin",
    "conservation",
    "cadd_like",
)
# Log-enrichment per standard deviation of each annotation for being causal, at informativeness 1.
_ANNOTATION_LOG_ENRICHMENT = np.array([0.2, 0.15, 0.1, 0.12, 0.08, 0.25, 0.1])
# Log-enrichment per standard deviation for carrying a gene's nonlinear (dominance / epistatic)
# component, at nonlinear informativeness 1: only enhancers and TF binding sites (a variant in
# either, z ~ 5-6, is ~3-4x as likely per mark at 1, ~40-90x at 3), nothing else.
_NONLINEAR_LOG_ENRICHMENT = np.array([0.0, 0.25, 0.0, 0.25, 0.0, 0.0, 0.0])


def causal_log_weight(
    annotation_z: np.ndarray,
    relative_distance: np.ndarray,
    *,
    annotation_informativeness: float,
    tss_proximity: float,
) -> np.ndarray:
    """Log-weight (p,), up to a constant, with which each candidate variant (biallelic SNV with
    MAF >= ``causal_min_maf``) is drawn causal: ``annotation_z`` (p, 7) the variants' annotations
    in :data:`ANNOTATION_COLUMNS` order standardised over the chromosome, ``relative_distance``
    (p,) ``|pos - tss| / window_bp``."""
    enrichment = np.asarray(annotation_z, dtype=np.float64) @ _ANNOTATION_LOG_ENRICHMENT
    return annotation_informativeness * enrichment - tss_proximity * np.asarray(relative_distance)


def nonlinear_log_weight(
    annotation_z: np.ndarray,
    relative_distance: np.ndarray,
    *,
    nonlinear_annotation_informativeness: float,
    tss_proximity: float,
) -> np.ndarray:
    """Log-weight (p,), up to a constant, with which each candidate variant (biallelic SNV with
    MAF >= ``causal_min_maf``, not an additive causal one) is drawn to carry a gene's dominance or
    epistatic component when ``nonlinear_annotation_informativeness`` > 0; arguments as in
    :func:`causal_log_weight`. Candidates whose effect would sit on a handful of individuals are
    then skipped, which depends on allele frequency only, not on annotations."""
    enrichment = np.asarray(annotation_z, dtype=np.float64) @ _NONLINEAR_LOG_ENRICHMENT
    return nonlinear_annotation_informativeness * enrichment - tss_proximity * np.asarray(
        relative_distance
    )


def standardise_columns(a: np.ndarray) -> np.ndarray:
    """(n, k) columns centred and scaled to sd 1 (a constant column is only centred)."""
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _in_intervals(pos: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(n,) bool: pos inside any closed interval [start, end]."""
    if starts.size == 0:
        return np.zeros(pos.size, bool)
    order = np.argsort(starts)
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    idx = np.searchsorted(starts, pos, side="right") - 1
    return (idx >= 0) & (pos <= ends[np.maximum(idx, 0)])


def simulate_annotations(
    pos: np.ndarray, *, tss: np.ndarray, length: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_snv, 7) annotations in ANNOTATION_COLUMNS order for the SNVs at ``pos`` (n_snv,),
    correlated as functional marks are.

    Promoters sit at gene TSSs (``tss``, the simulated genes, plus unsimulated ones), coding exons
    in gene bodies, enhancers cluster near TSSs; open chromatin and TF binding are enriched in
    promoters and enhancers; conservation has a smooth regional part plus coding/regulatory boosts;
    the CADD-like score follows conservation and coding.
    """
    n = pos.size
    n_other = max(2, length // 200_000)
    all_tss = np.concatenate([tss, rng.integers(1, length, n_other)])
    strand = rng.choice([-1, 1], all_tss.size)
    prom_lo = np.where(strand > 0, all_tss - 2000, all_tss - 500)
    prom_hi = np.where(strand > 0, all_tss + 500, all_tss + 2000)
    promoter = _in_intervals(pos, prom_lo, prom_hi)
    coding = _in_intervals(pos, *_coding_exons(all_tss, strand, rng))
    enhancer = _in_intervals(pos, *_enhancers(all_tss, length, rng)) & ~coding

    p_open = np.clip(0.03 + 0.6 * promoter + 0.45 * enhancer, 0, 0.95)
    open_chromatin = rng.random(n) < p_open
    p_tf = 0.01 + 0.25 * promoter + 0.15 * enhancer + 0.1 * open_chromatin
    tf_binding = rng.random(n) < p_tf

    knots = np.arange(0, length + 20_000, 20_000)
    regional = np.interp(pos, knots, rng.normal(0, 0.6, knots.size))
    conservation = (
        regional
        + rng.normal(0, 1, n)
        + 2.0 * coding
        + 0.5 * promoter
        + 0.3 * enhancer
        + 0.3 * tf_binding
    )
    cadd_like = np.clip(
        3.0
        + 2.0 * conservation
        + 8.0 * coding
        + 1.5 * tf_binding
        + 1.0 * promoter
        + rng.gamma(1.5, 1.5, n),
        0.0,
        60.0,
    )
    return np.column_stack(
        [promoter, enhancer, coding, tf_binding, open_chromatin, conservation, cadd_like]
    ).astype(np.float64)


def _coding_exons(
    all_tss: np.ndarray, strand: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of 4-12 exons in a 10-100 kb body downstream of each TSS (on its strand)."""
    ex_starts, ex_ends = [], []
    for t, s in zip(all_tss, strand, strict=True):
        body = rng.integers(10_000, 100_000)
        n_ex = rng.integers(4, 13)
        offs = np.sort(rng.integers(0, body, n_ex))
        lens = rng.integers(80, 250, n_ex)
        starts = t + s * offs - (lens if s < 0 else 0)
        ex_starts.append(starts)
        ex_ends.append(starts + lens)
    return np.concatenate(ex_starts), np.concatenate(ex_ends)


def _enhancers(
    all_tss: np.ndarray, length: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of enhancers covering ~4% of the chromosome, half of them near a TSS."""
    n_enh = max(4, int(0.04 * length / 1500))
    near = rng.random(n_enh) < 0.5
    centres = np.where(
        near,
        rng.choice(all_tss, n_enh) + rng.normal(0, 30_000, n_enh),
        rng.uniform(1, length, n_enh),
    )
    half = rng.integers(150, 1500, n_enh)
    return centres - half, centres + half


def annotated_rows(n_snv: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Per chromosome with ``n_snv[c]`` biallelic SNVs, the sorted SNV indices that get an
    annotation row: all but a few (0.2%, at least 3) left out on purpose."""
    rows = []
    for n in n_snv:
        n_drop = min(n, max(3, int(round(0.002 * n))))
        rows.append(np.setdiff1d(np.arange(n), rng.choice(n, size=n_drop, replace=False)))
    return rows
