"""Stage 2, step 1: predict every trained gene's expression in a new cohort.

Model variants are matched to the target cohort's variants by chromosome, position and alleles:
the same REF/ALT, REF/ALT swapped (dosage 2 − d), or, for strand-unambiguous SNPs only (not A/T or
C/G), the complementary alleles in either orientation. A model variant the target lacks is imputed
with its training mean dosage; the fraction found is reported per gene and model, with a warning
when it falls under a threshold.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from twasnet.artefact import GeneModel

_COMPLEMENT = str.maketrans("ACGT", "TGCA")
MATCH_KINDS = ("exact", "swapped", "strand", "strand_swapped", "missing")
COVERAGE_COLUMNS = (
    "gene_id",
    "model",
    "split",
    "n_model_variants",
    "n_found",
    "fraction_found",
    *(f"n_{k}" for k in MATCH_KINDS[1:4]),
    "n_weighted",
    "n_weighted_found",
    "warning",
)


class VariantCoverageWarning(UserWarning):
    """Too few of a model's variants were found in the target genotypes."""


def _ambiguous(ref: str, alt: str) -> bool:
    return ref.translate(_COMPLEMENT) == alt


def match_variants(model: pd.DataFrame, target: pd.DataFrame) -> pd.DataFrame:
    """Match model variants (p rows: chrom, pos, ref, alt) to target variants (rows: chrom, pos,
    ref, alt). Returns p rows: ``row`` (index into ``target``, −1 when absent), ``swapped`` (the
    target's ALT is the model's REF: use 2 − dosage) and ``kind`` (one of :data:`MATCH_KINDS`)."""
    index: dict[tuple, int] = {}
    for i, key in enumerate(
        zip(
            target["chrom"].astype(str),
            target["pos"].astype(int),
            target["ref"],
            target["alt"],
            strict=True,
        )
    ):
        index.setdefault(key, i)
    rows, swapped, kinds = [], [], []
    keys = zip(
        model["chrom"].astype(str),
        model["pos"].astype(int),
        model["ref"],
        model["alt"],
        strict=True,
    )
    for chrom, pos, ref, alt in keys:
        candidates = [("exact", ref, alt, False), ("swapped", alt, ref, True)]
        if not _ambiguous(ref, alt):
            cr, ca = ref.translate(_COMPLEMENT), alt.translate(_COMPLEMENT)
            candidates += [("strand", cr, ca, False), ("strand_swapped", ca, cr, True)]
        for kind, r, a, swap in candidates:
            hit = index.get((chrom, pos, r, a))
            if hit is not None:
                rows.append(hit)
                swapped.append(swap)
                kinds.append(kind)
                break
        else:
            rows.append(-1)
            swapped.append(False)
            kinds.append("missing")
    return pd.DataFrame({"row": rows, "swapped": swapped, "kind": kinds})


def model_dosages(match: pd.DataFrame, target_dosages: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """(n, p) ALT dosages of the model's p variants for the target's n samples: ``target_dosages``
    (n_target_variants, n) oriented by ``match`` (:func:`match_variants`); absent variants get the
    training ``mean`` (p,)."""
    rows = match["row"].to_numpy()
    n = target_dosages.shape[1]
    out = np.broadcast_to(np.asarray(mean, np.float64), (n, len(rows))).copy()
    found = np.flatnonzero(rows >= 0)
    if found.size:
        x = np.asarray(target_dosages[rows[found]], dtype=np.float64).T
        swap = match["swapped"].to_numpy()[found]
        x[:, swap] = 2.0 - x[:, swap]
        out[:, found] = x
    return out


def predict_genes(
    models: Sequence[GeneModel],
    *,
    target_variants: pd.DataFrame,
    target_dosages: np.ndarray,
    min_fraction: float = 0.8,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Predict each model for the target samples: ``target_variants`` (v rows: chrom, pos, ref,
    alt), ``target_dosages`` (v, n) ALT dosages. Returns predictions (len(models), n) and the
    coverage table (one row per model, :data:`COVERAGE_COLUMNS`). Warns with
    :class:`VariantCoverageWarning` when a model finds under ``min_fraction`` of its variants."""
    predictions = np.empty((len(models), target_dosages.shape[1]), dtype=np.float64)
    rows = []
    for k, gene in enumerate(models):
        match = match_variants(gene.variants, target_variants)
        predictions[k] = gene.predict(model_dosages(match, target_dosages, gene.dosage_mean))
        found = match["kind"] != "missing"
        p = len(match)
        fraction = float(found.mean()) if p else 1.0
        weighted = gene.coef != 0 if gene.is_linear else np.ones(p, dtype=bool)
        message = ""
        if fraction < min_fraction:
            message = (
                f"{gene.model} {gene.gene_id} (split {gene.split}): only {found.sum()} of {p} "
                f"model variants ({100 * fraction:.0f}%) were found in the target genotypes; the "
                "others are imputed with their training mean. Check the genome build, chromosome "
                "names and alleles of the target VCF"
            )
            warnings.warn(message, VariantCoverageWarning, stacklevel=2)
        counts = match["kind"].value_counts()
        rows.append(
            {
                "gene_id": gene.gene_id,
                "model": gene.model,
                "split": gene.split,
                "n_model_variants": p,
                "n_found": int(found.sum()),
                "fraction_found": fraction,
                **{f"n_{kind}": int(counts.get(kind, 0)) for kind in MATCH_KINDS[1:4]},
                "n_weighted": int(weighted.sum()),
                "n_weighted_found": int((weighted & found.to_numpy()).sum()),
                "warning": message,
            }
        )
    return predictions, pd.DataFrame(rows, columns=list(COVERAGE_COLUMNS))


def variant_spans(models: Sequence[GeneModel]) -> dict[str, list[tuple[int, int]]]:
    """Per chromosome, disjoint sorted [start, end] intervals covering every model's variants:
    the regions to read from the target genotypes."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for gene in models:
        if len(gene.variants) == 0:
            continue
        for chrom, pos in gene.variants.groupby("chrom")["pos"]:
            spans.setdefault(str(chrom), []).append((int(pos.min()), int(pos.max())))
    merged = {}
    for chrom, intervals in spans.items():
        out: list[tuple[int, int]] = []
        for start, end in sorted(intervals):
            if out and start <= out[-1][1] + 1:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged[chrom] = out
    return merged
