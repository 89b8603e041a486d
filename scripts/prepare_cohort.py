"""Snakemake entry point: intersect samples, store the cohort's expression and covariates."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.data import prepare_cohort  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    prepare_cohort,
    genotype_files=list(sm.input.genotypes),
    expression_path=sm.input.expression,
    covariates_path=sm.input.covariates[0] if sm.input.covariates else None,
    min_samples=sm.params.min_samples,
    out_samples=sm.output.samples,
    out_expression=sm.output.expression,
    out_covariates=sm.output.covariates,
    out_summary=sm.output.summary,
)
