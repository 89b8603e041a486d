"""Snakemake entry point: one linear model's fits for one split -> PredictDB files."""

import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.export.stages import export_predictdb  # noqa: E402
from twasnet.io.store import chunk_fit_paths  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    export_predictdb,
    artefact_paths=chunk_fit_paths(sm.input.chunks, "artefact"),
    record_paths=chunk_fit_paths(sm.input.chunks, "record"),
    selection_path=sm.input.selection,
    store_dirs=sorted({str(Path(p).parent) for p in sm.input.stores}),
    samples_path=sm.input.samples,
    split_path=sm.input.split,
    split=int(sm.wildcards.split),
    build=sm.params.build,
    seed=sm.params.seed,
    out_db=sm.output.db,
    out_covariance=sm.output.covariance,
    out_covariance_varid=sm.output.covariance_varid,
    out_genes=sm.output.genes,
    performance_filter=sm.params.performance_filter,
)
