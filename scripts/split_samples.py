"""Snakemake entry point: the one seeded split of individuals."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../workflow")  # noqa: F821 - the package without install

from twasnet.logs import run_logged  # noqa: E402
from twasnet.stages.data import make_split  # noqa: E402

sm = snakemake  # noqa: F821
run_logged(
    sm.log[0],
    make_split,
    samples_path=sm.input.samples,
    out_path=sm.output.split,
    seed=sm.params.seed,
    test_fraction=sm.params.test_fraction,
    n_folds=sm.params.inner_folds,
    n_repeats=sm.params.repeats,
)
