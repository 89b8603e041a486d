"""Snakemake entry point: the target cohort's phenotype on predicted expression (TWAS table)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.export.stages import associate_cohort  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    associate_cohort,
    prediction_paths=list(sm.input.predictions),
    phenotype_path=sm.input.phenotype[0],
    phenotype_column=sm.params.column,
    covariates_path=sm.input.covariates[0] if sm.input.covariates else None,
    binary=sm.params.binary,
    out_path=sm.output.table,
)
