"""Snakemake entry point: one chromosome's cis windows into the cis store."""

import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.data import extract_chromosome  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    extract_chromosome,
    chrom=sm.wildcards.chrom,
    genotype_path=sm.input.genotypes,
    samples_path=sm.input.samples,
    expression_path=sm.input.expression,
    annotations_path=sm.input.annotations[0] if sm.input.annotations else None,
    window_bp=sm.params.window_bp,
    dosage_field=sm.params.dosage_field,
    maf_min=sm.params.maf_min,
    missing_rate_max=sm.params.missing_rate_max,
    hwe_p_min=sm.params.hwe_p_min,
    annotation_fill=sm.params.annotation_fill,
    out_dir=str(Path(sm.output.genes).parent),
)
