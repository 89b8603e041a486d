"""Snakemake entry point: predict every trained gene and model into the target cohort."""

import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.export.stages import predict_cohort  # noqa: E402
from twasnet.io.store import chunk_fit_paths  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    predict_cohort,
    artefact_paths=chunk_fit_paths(sm.input.chunks, "artefact"),
    genotypes=sm.params.genotypes,
    dosage_field=sm.params.dosage_field,
    min_fraction=sm.params.min_fraction,
    keys=[tuple(k) for k in sm.params.fit_keys],
    out_dir=str(Path(sm.output.coverage).parent),
)
