"""Snakemake entry point: result records -> results/tables/r2.tsv."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.io.store import chunk_fit_paths  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.results import aggregate  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    aggregate,
    record_paths=chunk_fit_paths(sm.input.chunks, "record"),
    out_r2=sm.output.r2,
    out_times=sm.output.times,
)
