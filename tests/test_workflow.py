"""The real workflow, end to end, on the tiny simulated cohort."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ALL_MODELS, run_workflow, tiny_config

from twasnet.io.store import read_artefact


@pytest.fixture(scope="module")
def finished_run(tiny_cohort, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    config = tiny_config(tiny_cohort, select={"mode": "reml", "p_max": 0.05, "gene_list": None})
    run_workflow(workdir, config)
    return workdir, config


def test_tables_hold_a_row_per_selected_gene(finished_run):
    workdir, _ = finished_run
    selection = pd.read_csv(workdir / "results/genes/selection.tsv", sep="\t")
    r2 = pd.read_csv(workdir / "results/tables/r2.tsv", sep="\t")
    kept = selection.loc[selection["status"] == "selected", "gene_id"]
    assert len(kept) > 0, "the tiny cohort has heritable genes; REML should keep some"
    assert (selection["status"] != "selected").any(), "and null genes that it drops"
    for model in ALL_MODELS:
        assert sorted(r2.loc[r2["model"] == model, "gene_id"]) == sorted(kept), model
    assert {"r2_pearson", "r2_sse", "pearson_r", "pearson_p", "n_nonzero"} <= set(r2.columns)
    assert r2["status"].eq("ok").all()
    assert selection.loc[selection["status"] == "selected", "h2_p"].lt(0.05).all()
    truth = pd.read_csv(workdir / "results/tables/truth_evaluation.tsv", sep="\t")
    assert {"h2_total", "h2_linear", "r2_enet", "r2_cnn_annot"} <= set(truth.columns)
    ranking = pd.read_csv(workdir / "results/tables/importance_vs_truth.tsv", sep="\t")
    assert set(ranking["model"]) == set(ALL_MODELS)
    assert ranking["auroc"].dropna().between(0, 1).all() and ranking["auroc"].notna().any()


def test_every_gene_is_scored_on_the_same_held_out_individuals(finished_run):
    workdir, _ = finished_run
    split = pd.read_csv(workdir / "results/split/split.tsv", sep="\t")
    test_samples = set(split.loc[split["set"] == "test", "sample"])
    prediction_files = sorted((workdir / "results/fits").glob("*/*/*.predictions.tsv"))
    assert len(prediction_files) == len(ALL_MODELS) * len(
        list((workdir / "results/fits/enet").glob("*/*.predictions.tsv"))
    )
    assert prediction_files
    for path in prediction_files:
        assert set(pd.read_csv(path, sep="\t")["sample"]) == test_samples


def test_a_second_run_has_nothing_to_do(finished_run):
    workdir, config = finished_run
    proc = run_workflow(workdir, config, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_held_out_expression_never_reaches_a_fit(finished_run, tiny_cohort, tmp_path):
    """Scramble held-out expression: the selection and every fitted weight stay identical."""
    workdir, config = finished_run
    split = pd.read_csv(workdir / "results/split/split.tsv", sep="\t")
    test_samples = split.loc[split["set"] == "test", "sample"].tolist()
    with gzip.open(tiny_cohort["expression"], "rt") as handle:
        bed = pd.read_csv(handle, sep="\t")
    rng = np.random.default_rng(0)
    held = [s for s in test_samples if s in bed.columns]
    bed[held] = rng.standard_normal((len(bed), len(held))) * 10
    perturbed = tmp_path / "expression.bed.gz"
    with gzip.open(perturbed, "wt") as handle:
        bed.to_csv(handle, sep="\t", index=False)
    other = tmp_path / "run"
    run_workflow(other, dict(config, expression=str(perturbed)))
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
