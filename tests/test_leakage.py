"""Held-out individuals never touch a training step: scramble their expression and every
selection, fitted weight and prior of the workflow stays bit-identical to the shared run's (the
deep models here trained in batches of a chunk's genes, there one gene at a time)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import torch
from conftest import ALL_MODELS, assert_trained_together, run_workflow

from twasnet.io.store import read_artefact


def test_held_out_expression_never_reaches_a_fit(shared_cohort_and_config, request, tmp_path):
    """Scramble held-out expression: the selection and every fitted weight stay identical."""
    _, config, cohort = shared_cohort_and_config
    # the held-out individuals of the seeded split: those of the shared run, computed from the
    # same cohort and seed, so this run can go beside the shared one's build
    first = tmp_path / "split"
    run_workflow(first, config, "results/split/split.tsv")
    split = pd.read_csv(first / "results/split/split.tsv", sep="\t")
    test_samples = split.loc[split["set"] == "test", "sample"].tolist()
    with gzip.open(cohort["expression"], "rt") as handle:
        bed = pd.read_csv(handle, sep="\t")
    rng = np.random.default_rng(0)
    held = [s for s in test_samples if s in bed.columns]
    assert held
    bed[held] = rng.standard_normal((len(bed), len(held))) * 10
    perturbed = tmp_path / "expression.bed.gz"
    with gzip.open(perturbed, "wt") as handle:
        bed.to_csv(handle, sep="\t", index=False)
    other = tmp_path / "run"
    # and the deep models' genes of a chunk trained together, where the shared run's go one by one
    batched = {m: config[m] | {"batch_genes": 50} for m in ("cnn", "cnn_annot")}
    run_workflow(other, config | batched | {"expression": str(perturbed)}, "results/tables/r2.tsv")

    assert_trained_together(other, ["cnn", "cnn_annot"])
    workdir = request.getfixturevalue("shared_run").workdir
    pd.testing.assert_frame_equal(pd.read_csv(workdir / "results/split/split.tsv", sep="\t"), split)
    cols = ["gene_id", "h2", "h2_p", "status"]
    pd.testing.assert_frame_equal(
        pd.read_csv(workdir / "results/genes/selection.tsv", sep="\t")[cols],
        pd.read_csv(other / "results/genes/selection.tsv", sep="\t")[cols],
    )
    fits = sorted((workdir / "results/fits").glob("*/*/*.importance.tsv"))
    assert {p.parent.parent.name for p in fits} == set(ALL_MODELS)
    for path in fits:
        twin = other / path.relative_to(workdir)
        assert path.read_bytes() == twin.read_bytes(), path.name
    artefacts = sorted((workdir / "results").glob("fits/*/*/*.model.*"))
    artefacts += sorted((workdir / "results/priors").glob("*"))
    assert artefacts
    for path in artefacts:
        assert_same_state(read_artefact(path), read_artefact(other / path.relative_to(workdir)))


def assert_same_state(a, b):
    """Nested dicts/lists of tensors, arrays and plain values are exactly equal."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_state(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_state(x, y)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b or (a != a and b != b)  # NaN equals NaN here
