"""Snakemake entry point: held-out predictions -> per-gene paired bootstrap of ΔR²."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.io.store import chunk_fit_paths  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.results import compare_per_gene  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    compare_per_gene,
    prediction_paths=chunk_fit_paths(sm.input.chunks, "predictions"),
    pairs=sm.params.pairs,
    models=sm.params.models,
    alpha=sm.params.alpha,
    n_bootstrap=sm.params.n_bootstrap,
    seed=sm.params.seed,
    out_path=sm.output.table,
)
