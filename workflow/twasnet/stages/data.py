"""Data stages: the cohort's own tables (samples in genotype order), the seeded split of its
individuals, and one cis store per chromosome (every gene's window of dosages)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from twasnet.cohort import intersect_samples, lost_samples_message
from twasnet.errors import InputError
from twasnet.io.annotations import (
    MATCH_COLUMNS,
    low_match_warning,
    match_annotations,
    match_report,
    read_annotations,
)
from twasnet.io.covariates import degenerate_covariates, degenerate_message, read_covariates
from twasnet.io.expression import read_expression_bed
from twasnet.io.genotypes import genotype_samples, read_genotypes
from twasnet.io.store import ANNOTATION_PREFIX, read_table, write_cis_store, write_json, write_table
from twasnet.io.variants import VARIANT_COLUMNS
from twasnet.split import split_individuals

log = logging.getLogger("twasnet")

GENE_COLUMNS = ["gene_id", "chrom", "tss"]


def prepare_cohort(
    *,
    genotype_files: Sequence[str],
    expression_path: str,
    covariates_path: str | None,
    min_samples: int,
    out_samples: str,
    out_expression: str,
    out_covariates: str,
    out_summary: str,
) -> None:
    """Intersect the samples of genotypes, expression and covariates and store the expression and
    covariates of those samples, in genotype order, in twasnet's own tables."""
    file_samples = genotype_samples(genotype_files[0])
    for other in genotype_files[1:]:
        if genotype_samples(other) != file_samples:
            raise InputError(
                f"{other}: its samples differ from those of {genotype_files[0]}; per-chromosome "
                "genotype files must hold the same samples in the same order"
            )
    expression = read_expression_bed(expression_path)
    covariates = None
    if covariates_path:
        covariates = read_covariates(covariates_path, samples=expression.values.columns)
    found = intersect_samples(
        genotype=file_samples,
        expression=list(expression.values.columns),
        covariates=None if covariates is None else list(covariates.index),
        min_samples=min_samples,
    )
    for source, count in found.counts.items():
        log.info("samples in %s: %d", source, count)
    files = {"genotype": genotype_files[0], "expression": expression_path}
    lost = lost_samples_message(found, files | {"covariates": covariates_path or ""})
    if lost:
        log.warning(lost)
    samples = found.samples
    values = expression.values[samples]
    table = pd.concat([expression.genes.set_index("gene_id"), values], axis=1).reset_index()
    if covariates is None:
        covariates = pd.DataFrame(index=samples)
    covariates = covariates.loc[samples]
    dropped = degenerate_covariates(covariates)
    if dropped:
        log.warning(degenerate_message(str(covariates_path), dropped, len(samples)))
        covariates = covariates.drop(columns=list(dropped))
    write_table(pd.DataFrame({"sample": samples}), out_samples)
    write_table(table, out_expression)
    write_table(covariates.reset_index(names="sample"), out_covariates)
    summary = {"counts": found.counts, "only_in": found.only_in, "covariates_dropped": dropped}
    write_json(summary, out_summary)


def make_split(
    *,
    samples_path: str,
    out_path: str,
    seed: int,
    test_fraction: float,
    n_folds: int,
    n_repeats: int,
) -> None:
    """Write the one seeded partition of the cohort's individuals (see :mod:`twasnet.split`)."""
    samples = read_table(samples_path)["sample"].astype(str).tolist()
    split = split_individuals(
        samples, seed=seed, test_fraction=test_fraction, n_folds=n_folds, n_repeats=n_repeats
    )
    write_table(split, out_path)


def merge_windows(tss: np.ndarray, window_bp: int) -> list[tuple[int, int]]:
    """Disjoint, sorted intervals [start, end] (1-based, inclusive) covering every TSS ± window."""
    intervals: list[tuple[int, int]] = []
    for centre in np.sort(np.asarray(tss, dtype=np.int64)):
        start, end = max(1, int(centre) - window_bp), int(centre) + window_bp
        if intervals and start <= intervals[-1][1] + 1:
            intervals[-1] = (intervals[-1][0], max(intervals[-1][1], end))
        else:
            intervals.append((start, end))
    return intervals


def extract_chromosome(
    *,
    chrom: str,
    genotype_path: str,
    samples_path: str,
    expression_path: str,
    annotations_path: str | None,
    window_bp: int,
    dosage_field: str | None,
    maf_min: float,
    missing_rate_max: float,
    hwe_p_min: float | None,
    annotation_fill: float,
    out_dir: str,
) -> None:
    """Read one chromosome's genotypes once (a region query per merged cis window) and store every
    gene's window as a slice of one matrix (see :mod:`twasnet.io.store`)."""
    samples = read_table(samples_path)["sample"].astype(str).tolist()
    genes = read_table(expression_path)[GENE_COLUMNS]
    genes = genes[genes["chrom"].astype(str) == str(chrom)].sort_values(["tss", "gene_id"])
    blocks, skipped = [], {}
    for start, end in merge_windows(genes["tss"].to_numpy(), window_bp):
        block = read_genotypes(
            genotype_path,
            chrom=chrom,
            samples=samples,
            start=start,
            end=end,
            dosage_field=dosage_field,
            maf_min=maf_min,
            missing_rate_max=missing_rate_max,
            hwe_p_min=hwe_p_min,
        )
        blocks.append(block)
        for reason, count in block.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + int(count)
    if blocks:
        dosages = np.concatenate([b.dosages for b in blocks], axis=0)
        variants = pd.concat([b.variants for b in blocks], ignore_index=True)
    else:
        dosages = np.zeros((0, len(samples)), dtype=np.float32)
        variants = pd.DataFrame(columns=list(VARIANT_COLUMNS))
    variants, match = _annotate(variants, chrom, annotations_path, annotation_fill)
    positions = variants["pos"].to_numpy(dtype=np.int64)
    tss = genes["tss"].to_numpy(dtype=np.int64)
    genes = genes.assign(
        first=np.searchsorted(positions, tss - window_bp, side="left"),
        stop=np.searchsorted(positions, tss + window_bp, side="right"),
    )
    genes["n_variants"] = genes["stop"] - genes["first"]
    log.info("chromosome %s: %d genes, %d variants kept", chrom, len(genes), len(variants))
    log.info("chromosome %s: records skipped by reason: %s", chrom, skipped)
    summary = {"chrom": chrom, "n_variants": len(variants), "skipped": skipped}
    if annotations_path:
        summary["annotation_match_rate"] = match.iloc[0]["match_rate"]
    write_table(match, f"{out_dir}/annotation_match.tsv")
    write_json(summary, f"{out_dir}/summary.json")
    write_cis_store(out_dir, dosages=dosages, variants=variants, genes=genes)


def _annotate(
    variants: pd.DataFrame, chrom: str, annotations_path: str | None, fill_value: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The chromosome's variants with their ``annot_*`` columns, and the one-row table of how
    many matched an annotation row (no rows without annotations); warns below
    :data:`~twasnet.io.annotations.MIN_MATCH_RATE`."""
    if not annotations_path:
        return variants, pd.DataFrame(columns=list(MATCH_COLUMNS))
    table = read_annotations(annotations_path)
    table = table[table["chrom"].astype(str) == str(chrom)]
    matched = match_annotations(variants, table, fill_value=fill_value)
    row = match_report(chrom, variants, table, matched)
    log.info("chromosome %s: %d of %d variants annotated", chrom, row["n_matched"], len(variants))
    warning = low_match_warning(annotations_path, row)
    if warning:
        log.warning(warning)
    matched.columns = [ANNOTATION_PREFIX + str(c) for c in matched.columns]
    variants = pd.concat([variants.reset_index(drop=True), matched.reset_index(drop=True)], axis=1)
    return variants, pd.DataFrame([row], columns=list(MATCH_COLUMNS))
