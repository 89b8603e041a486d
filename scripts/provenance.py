"""Snakemake entry point: the run-independent part of results/provenance.json."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.export.stages import write_static_provenance  # noqa: E402
from twasnet.logs import run_logged  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    write_static_provenance,
    config=dict(sm.params.config),
    input_files=list(sm.input),
    workflow_dir=sm.params.workflow_dir,
    out_path=sm.output.static,
)
