"""Snakemake entry point: train one model on a chunk of genes of one chromosome, one after
another, and score each on the held-out individuals."""

import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.cohort import CohortFiles  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.training import train  # noqa: E402

sm = snakemake  # noqa: F821
model_params = dict(sm.params.model_params)
if "prior" in sm.input.keys():
    model_params["prior_path"] = sm.input.prior
run_logged(
    sm.log[0],
    train,
    model_name=sm.wildcards.model,
    model_params=model_params,
    gene_ids=list(sm.params.genes),
    split=int(sm.wildcards.split),
    store_dir=str(Path(sm.input.genes).parent),
    cohort_files=CohortFiles(
        samples=sm.input.samples,
        expression=sm.input.expression,
        covariates=sm.input.covariates,
        split=sm.input.split,
    ),
    window_bp=sm.params.window_bp,
    seed=sm.params.seed,
    threads=sm.threads,
    outputs=[dict(out) for out in sm.params.outputs],
    out_table=sm.output.genes,
)
