"""Snakemake entry point: score selection, R² and importance against a simulation's truth."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.io.store import chunk_fit_paths  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.results import evaluate_against_truth  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    evaluate_against_truth,
    selection_path=sm.input.selection,
    r2_path=sm.input.r2,
    truth_genes_path=sm.input.truth_genes[0],
    truth_variants_path=sm.input.truth_variants[0] if sm.input.truth_variants else None,
    importance_paths=chunk_fit_paths(sm.input.chunks, "importance"),
    out_genes=sm.output.genes,
    out_importance=sm.output.importance,
)
