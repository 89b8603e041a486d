"""The genotype block every reader returns (:mod:`twasnet.io.vcf`, :mod:`twasnet.io.plink`), its
variant table with canonical chromosome names, and the per-variant quality control every format
shares: missingness, minor allele frequency and the Hardy-Weinberg exact test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SKIP_REASONS = ("multiallelic", "non_snv", "missing_rate", "maf", "hwe")
VARIANT_COLUMNS = (
    "chrom",
    "pos",
    "variant_id",
    "ref",
    "alt",
    "alt_freq",
    "maf",
    "missing_rate",
    "hwe_p",
)
# Relative tolerance when comparing HWE configuration probabilities (ties in exact arithmetic).
_HWE_TIE_EPS = 1e-7


def canonical_chrom(name: str) -> str:
    """Chromosome name without a leading "chr" (case-insensitive): "chr1" -> "1", "chrX" -> "X"."""
    name = str(name).strip()
    if name[:3].lower() == "chr" and len(name) > 3:
        return name[3:]
    return name


@dataclass(frozen=True)
class GenotypeBlock:
    """Dosages of the kept variants in one region.

    dosages: (n_variants, n_samples) float32, ALT dosage in [0, 2], missing values mean-imputed.
    variants: one row per kept variant in genomic order; columns VARIANT_COLUMNS.
    skipped: count per reason in SKIP_REASONS.
    samples: sample ids in the column order of `dosages` (the requested order).
    """

    dosages: np.ndarray
    variants: pd.DataFrame
    skipped: dict[str, int]
    samples: list[str]


def hwe_exact_pvalues(
    het: np.ndarray | Sequence[int],
    hom_ref: np.ndarray | Sequence[int],
    hom_alt: np.ndarray | Sequence[int],
    *,
    chunk_cells: int = 1_000_000,
) -> np.ndarray:
    """Two-sided Hardy-Weinberg exact test p-values (Wigginton, Cutler & Abecasis 2005).

    Wigginton JE, Cutler DJ, Abecasis GR. A note on exact tests of Hardy-Weinberg equilibrium.
    Am J Hum Genet 76:887-893 (2005). The p-value is the summed probability of all heterozygote
    counts (given n and the minor allele count) that are no more likely than the observed one,
    conditional probabilities from Levene (1949):
    P(n_het | n, n_minor) = 2^n_het n! n_minor! n_major! / (n_hom1! n_het! n_hom2! (2n)!).

    Inputs: genotype counts, each shape (m,). Returns shape (m,) float64; 1.0 where n == 0.
    Vectorised over variants (log-factorial table), in chunks of at most `chunk_cells` matrix cells.
    """
    het = np.asarray(het, dtype=np.int64).ravel()
    hom_ref = np.asarray(hom_ref, dtype=np.int64).ravel()
    hom_alt = np.asarray(hom_alt, dtype=np.int64).ravel()
    if not (het.shape == hom_ref.shape == hom_alt.shape):
        raise ValueError("het, hom_ref and hom_alt must have the same length")
    if het.size and min(het.min(), hom_ref.min(), hom_alt.min()) < 0:
        raise ValueError("genotype counts must be non-negative")
    m = het.size
    out = np.ones(m, dtype=np.float64)
    if m == 0:
        return out
    n = het + hom_ref + hom_alt
    n_minor = 2 * np.minimum(hom_ref, hom_alt) + het
    # group by the length of the het-count grid so chunks are dense matrices
    n_cols = n_minor // 2 + 1
    order = np.argsort(n_cols, kind="stable")
    widths = n_cols[order]
    from scipy.special import gammaln  # here: the workflow imports this module at parse time

    log_fact = gammaln(np.arange(int(n.max()) + 2, dtype=np.float64) + 1.0)  # log k!
    start = 0
    while start < m:
        # widths are sorted ascending: the chunk's widest row is its last one
        stop = min(m, start + max(1, chunk_cells // int(widths[start])))
        while stop - start > 1 and (stop - start) * int(widths[stop - 1]) > chunk_cells:
            stop = start + max(1, chunk_cells // int(widths[stop - 1]))
        idx = order[start:stop]
        width = int(widths[stop - 1])
        nn = n[idx][:, None]
        nm = n_minor[idx][:, None]
        k = np.arange(width)[None, :]
        hets = (nm % 2) + 2 * k  # candidate heterozygote counts, same parity as n_minor
        hom_minor = (nm - hets) // 2
        hom_major = nn - hets - hom_minor
        valid = (hets <= nm) & (hom_major >= 0)
        hets = np.where(valid, hets, 0)
        hom_minor = np.where(valid, hom_minor, 0)
        hom_major = np.where(valid, hom_major, 0)
        # log P up to the per-row constant log(n! n_minor! n_major! / (2n)!)
        logp = hets * np.log(2.0) - log_fact[hom_minor] - log_fact[hets] - log_fact[hom_major]
        logp = np.where(valid, logp, -np.inf)
        obs_k = (het[idx] - nm[:, 0] % 2) // 2
        logp_obs = logp[np.arange(idx.size), obs_k][:, None]
        lmax = logp.max(axis=1, keepdims=True)
        prob = np.exp(logp - lmax)
        prob_obs = np.exp(logp_obs - lmax)
        total = prob.sum(axis=1)
        tail = np.where(prob <= prob_obs * (1 + _HWE_TIE_EPS), prob, 0.0).sum(axis=1)
        p = np.minimum(1.0, tail / total)
        p[n[idx] == 0] = 1.0
        out[idx] = p
        start = stop
    return out


def _hwe_pvalues(dos: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(n_variants,) HWE exact p on the rounded dosages of the rows in ``keep``; NaN elsewhere."""
    hwe_p = np.full(dos.shape[0], np.nan)
    kidx = np.flatnonzero(keep)
    if kidx.size:
        hard = np.rint(dos[kidx])
        hwe_p[kidx] = hwe_exact_pvalues(
            (hard == 1).sum(axis=1), (hard == 0).sum(axis=1), (hard == 2).sum(axis=1)
        )
    return hwe_p


def filter_dosages(
    dos: np.ndarray,
    *,
    pos: Sequence[int],
    ids: Sequence[str],
    refs: Sequence[str],
    alts: Sequence[str],
    skipped: dict[str, int],
    chrom: str,
    samples: Sequence[str],
    maf_min: float,
    missing_rate_max: float,
    hwe_p_min: float | None,
) -> GenotypeBlock:
    """The per-variant filters every genotype format shares, applied to the bi-allelic SNVs read.

    dos: (n_variants, n_samples) float32 ALT dosages in [0, 2], NaN where missing; pos, ids,
    refs, alts: one entry per row (ids "" where the file has none); skipped: the counts of the
    records already left out (SKIP_REASONS keys). Drops variants missing in more than
    `missing_rate_max` of the samples, then those with MAF < `maf_min`, then (with `hwe_p_min`)
    those with HWE exact p < `hwe_p_min` on the rounded dosages; mean-imputes what is left.
    """
    counts = dict.fromkeys(SKIP_REASONS, 0) | {k: int(v) for k, v in skipped.items()}
    n_v, n_s = dos.shape
    n_obs = (~np.isnan(dos)).sum(axis=1)
    missing_rate = 1.0 - n_obs / n_s
    keep = missing_rate <= missing_rate_max
    counts["missing_rate"] = int((~keep).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        alt_freq = np.nansum(dos, axis=1, dtype=np.float64) / (2.0 * n_obs)
    alt_freq = np.where(n_obs > 0, alt_freq, np.nan)
    maf = np.minimum(alt_freq, 1.0 - alt_freq)
    maf_ok = keep & (maf >= maf_min)
    counts["maf"] = int((keep & ~maf_ok).sum())
    keep = maf_ok
    hwe_p = _hwe_pvalues(dos, keep) if hwe_p_min is not None else np.full(n_v, np.nan)
    if hwe_p_min is not None:
        hwe_ok = keep & (hwe_p >= hwe_p_min)
        counts["hwe"] = int((keep & ~hwe_ok).sum())
        keep = hwe_ok
    kidx = np.flatnonzero(keep)
    dos = dos[kidx]
    mean = (2.0 * alt_freq[kidx]).astype(np.float32)
    nan_r, nan_c = np.nonzero(np.isnan(dos))
    dos[nan_r, nan_c] = mean[nan_r]
    variants = pd.DataFrame(
        {
            "chrom": pd.Series([canonical_chrom(chrom)] * kidx.size, dtype=str),
            "pos": np.asarray(pos, dtype=np.int64)[kidx],
            "variant_id": pd.Series([ids[i] for i in kidx], dtype=str),
            "ref": pd.Series([refs[i] for i in kidx], dtype=str),
            "alt": pd.Series([alts[i] for i in kidx], dtype=str),
            "alt_freq": alt_freq[kidx],
            "maf": maf[kidx],
            "missing_rate": missing_rate[kidx].astype(np.float64),
            "hwe_p": hwe_p[kidx],
        }
    )
    dos = np.ascontiguousarray(dos, dtype=np.float32)
    return GenotypeBlock(dosages=dos, variants=variants, skipped=counts, samples=list(samples))
