"""Snakemake entry point: r2.tsv -> comparison tables (TSV, Markdown, HTML) and r2_wide."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.results import compare  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    compare,
    r2_path=sm.input.r2,
    pairs=sm.params.pairs,
    models=sm.params.models,
    metric=sm.params.metric,
    alternative=sm.params.alternative,
    alpha=sm.params.alpha,
    n_bootstrap=sm.params.n_bootstrap,
    seed=sm.params.seed,
    out_comparison=sm.output.comparison,
    out_markdown=sm.output.markdown,
    out_html=sm.output.html,
    out_genes=sm.output.genes,
    out_dropped=sm.output.dropped,
    out_wide_tsv=sm.output.wide_tsv,
    out_wide_parquet=sm.output.wide_parquet,
)
