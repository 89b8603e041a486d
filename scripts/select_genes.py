"""Snakemake entry point: REML cis-h² per gene on training individuals -> selection.tsv."""

import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.cohort import CohortFiles  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.selection import select_genes  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    select_genes,
    store_dirs=sorted({str(Path(p).parent) for p in sm.input.stores}),
    cohort_files=CohortFiles(
        samples=sm.input.samples,
        expression=sm.input.expression,
        covariates=sm.input.covariates,
        split=sm.input.split,
    ),
    mode=sm.params.mode,
    p_max=sm.params.p_max,
    gene_list_path=sm.input.gene_list[0] if sm.input.gene_list else None,
    out_path=sm.output.table,
)
