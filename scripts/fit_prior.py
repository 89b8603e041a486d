"""Snakemake entry point: fit an annotation model's across-gene prior for one split."""

import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.cohort import CohortFiles  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.training import fit_prior  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    fit_prior,
    model_name=sm.params.model,
    model_params=dict(sm.params.model_params),
    split=int(sm.wildcards.split),
    selection_path=sm.input.selection,
    store_dirs=sorted({str(Path(p).parent) for p in sm.input.stores}),
    cohort_files=CohortFiles(
        samples=sm.input.samples,
        expression=sm.input.expression,
        covariates=sm.input.covariates,
        split=sm.input.split,
    ),
    window_bp=sm.params.window_bp,
    seed=sm.params.seed,
    threads=sm.threads,
    out_path=sm.output.prior,
)
