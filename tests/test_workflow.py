"""The real workflow, end to end, on the tiny simulated cohort."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_workflow, tiny_config


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
    assert sorted(r2["gene_id"]) == sorted(kept)
    assert set(r2["model"]) == {"enet"}
    assert {"r2_pearson", "r2_sse", "pearson_r", "pearson_p", "n_nonzero"} <= set(r2.columns)
    assert r2["status"].eq("ok").all()
    assert selection.loc[selection["status"] == "selected", "h2_p"].lt(0.05).all()
    truth = pd.read_csv(workdir / "results/tables/truth_evaluation.tsv", sep="\t")
    assert {"h2_total", "h2_linear", "r2_enet"} <= set(truth.columns)


def test_every_gene_is_scored_on_the_same_held_out_individuals(finished_run):
    workdir, _ = finished_run
    split = pd.read_csv(workdir / "results/split/split.tsv", sep="\t")
    test_samples = set(split.loc[split["set"] == "test", "sample"])
    prediction_files = sorted((workdir / "results/fits/enet").glob("*.predictions.tsv"))
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
    for path in sorted((workdir / "results/fits/enet").glob("*.importance.tsv")):
        assert path.read_bytes() == (other / "results/fits/enet" / path.name).read_bytes()
    for path in sorted((workdir / "results/fits/enet").glob("*.json")):
        mine, theirs = (
            json.loads(path.read_text()),
            json.loads((other / path.relative_to(workdir)).read_text()),
        )
        assert mine["hyperparameters"] == theirs["hyperparameters"]
