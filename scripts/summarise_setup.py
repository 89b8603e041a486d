"""Snakemake entry point: the run's setup (cohort, split, genes, models, seeds) for the report."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.results import summarise_setup  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    summarise_setup,
    cohort_summary_path=sm.input.cohort,
    split_path=sm.input.split,
    selection_path=sm.input.selection,
    r2_path=sm.input.r2,
    provenance_path=sm.input.provenance,
    config=dict(sm.params.config),
    out_html=sm.output.html,
)
