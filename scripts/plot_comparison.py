"""Snakemake entry point: comparison tables -> figures (PNG and SVG)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.io.store import chunk_fit_paths  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.results import plot_comparison  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    plot_comparison,
    genes_path=sm.input.genes,
    wide_path=sm.input.wide,
    selection_path=sm.input.selection,
    importance_paths=chunk_fit_paths(sm.input.chunks, "importance"),
    truth_genes_path=sm.input.truth_genes[0] if sm.input.truth_genes else None,
    truth_variants_path=sm.input.truth_variants[0] if sm.input.truth_variants else None,
    pairs=sm.params.pairs,
    models=sm.params.models,
    top_genes=sm.params.top_genes,
    seed=sm.params.seed,
    out=dict(sm.output.items()),
)
