"""Snakemake entry point: join selection and R² with a simulation's truth table."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages import evaluate_against_truth  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    evaluate_against_truth,
    selection_path=sm.input.selection,
    r2_path=sm.input.r2,
    truth_path=sm.input.truth[0],
    out_path=sm.output.table,
)
