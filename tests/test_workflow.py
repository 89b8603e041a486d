"""The real workflow, end to end, on the tiny simulated cohort: what the shared run
(tests/conftest.py) wrote, a dry run and a forced rerun of it, and its report."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ALL_MODELS, REPO, run_workflow

sys.path.insert(0, str(REPO / "tools"))
from report_check import check_report  # noqa: E402


@pytest.fixture(scope="module")
def finished_run(shared_run):
    return shared_run.workdir, shared_run.config


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


def test_a_second_run_has_nothing_to_do(shared_run, tmp_path):
    workdir = shared_run.copy(tmp_path / "run")
    proc = run_workflow(workdir, shared_run.config, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


# ---- comparison tables, figures and report (issue 4) ----
STABLE = [
    "results/tables/r2.tsv",
    "results/tables/comparison.tsv",
    "results/tables/comparison.md",
    "results/tables/comparison_genes.tsv",
    "results/tables/comparison_dropped.tsv",
    "results/tables/comparison_per_gene.tsv",
    "results/tables/r2_wide.tsv",
    "results/tables/r2_wide.parquet",
    "results/report/comparison.html",
    "results/report/setup.html",
    *[
        f"results/figures/{n}.{e}"
        for n in ("pairs", "delta", "h2", "importance")
        for e in ("png", "svg")
    ],
]


def test_comparison_pairs_the_genes_both_models_scored(finished_run):
    workdir, _ = finished_run
    r2 = pd.read_csv(workdir / "results/tables/r2.tsv", sep="\t")
    comparison = pd.read_csv(workdir / "results/tables/comparison.tsv", sep="\t")
    assert comparison[["model_a", "model_b"]].values.tolist() == [
        ["cnn", "enet"],
        ["cnn", "enet_features"],
        ["enet_features", "enet"],
        ["cnn_annot", "cnn"],
        ["enet_annot", "enet"],
        ["cnn_annot", "enet_annot"],
        ["enet", "lasso"],
        ["enet", "blup"],
        ["enet", "top1"],
    ]
    ok = r2[r2["status"] == "ok"]
    for row in comparison.itertuples():
        both = set(ok.loc[ok["model"] == row.model_a, "gene_id"])
        both &= set(ok.loc[ok["model"] == row.model_b, "gene_id"])
        assert row.n_genes == len(both) > 0
        assert row.mean_delta_ci_low <= row.mean_delta <= row.mean_delta_ci_high
        if row.sign_n_better + row.sign_n_worse == 0:
            # identical scores (a deep model that kept no addition is its core): no test applies
            assert row.mean_delta == 0 and np.isnan(row.wilcoxon_p) and not row.significant_holm
        else:
            assert 0 <= row.wilcoxon_p <= row.wilcoxon_p_holm <= 1
    wide = pd.read_parquet(workdir / "results/tables/r2_wide.parquet")
    pd.testing.assert_frame_equal(
        wide, pd.read_csv(workdir / "results/tables/r2_wide.tsv", sep="\t"), atol=1e-5
    )
    assert list(wide.columns) == ["gene_id"] + [f"r2_{m}" for m in ALL_MODELS]
    per_gene = pd.read_csv(workdir / "results/tables/comparison_per_gene.tsv", sep="\t")
    assert len(per_gene) == comparison["n_genes"].sum()
    assert per_gene["p"].between(0, 1).all()
    text = (workdir / "results/tables/comparison.md").read_text()
    assert "cnn vs enet_features" in text and "Wilcoxon" in text


def test_forced_rerun_gives_byte_identical_tables_and_figures(shared_run, tmp_path):
    workdir, config = shared_run.copy(tmp_path / "run"), shared_run.config
    before = {p: (workdir / p).read_bytes() for p in STABLE}
    written = {p: (workdir / p).stat().st_mtime_ns for p in STABLE}
    run_workflow(workdir, config, "--forcerun", "aggregate", *STABLE)
    rewritten = {p for p in STABLE if (workdir / p).stat().st_mtime_ns != written[p]}
    per_gene = "results/tables/comparison_per_gene.tsv"  # reads predictions, not r2: may stay
    assert rewritten >= set(STABLE) - {per_gene}
    changed = [p for p in STABLE if (workdir / p).read_bytes() != before[p]]
    assert not changed, changed


def test_setup_page_of_the_report_shows_the_provenance(finished_run):
    workdir, _ = finished_run
    provenance = json.loads((workdir / "results/provenance.json").read_text())
    page = (workdir / "results/report/setup.html").read_text()
    assert "Provenance: input files and their SHA-256" in page
    assert provenance["inputs"] and all(e["sha256"] in page for e in provenance["inputs"].values())
    assert provenance["config_sha256"] in page
    assert f">{provenance['packages']['torch']}<" in page


def test_report_shows_the_comparison_and_figures_in_chromium(shared_run, tmp_path):
    workdir, config = shared_run.copy(tmp_path / "run"), shared_run.config
    run_workflow(workdir, config, "--report", "results/report.html")
    report = workdir / "results/report.html"
    assert report.stat().st_size > 0
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install chromium); report built only")
    lines = check_report(report, tmp_path / "shots", only=("comparison", "pairs"))
    assert any("comparison table" in line for line in lines)
    assert (tmp_path / "shots/comparison.png").stat().st_size > 0


def test_every_exportable_model_is_in_the_predictdb_export(finished_run):
    """enet, enet_annot and FUSION's lasso, blup and top1: a valid PredictDB file each, whose
    weights are the artefacts' non-zero coefficients; no file for enet_features or the deep
    models, whose predictions are not weights on dosages."""
    from twasnet.export.artefact import find_artefacts, load_artefact
    from twasnet.export.predictdb import check_predictdb, read_predictdb
    from twasnet.models.registry import exportable_models

    workdir, _ = finished_run
    export = workdir / "results/export/predictdb"
    assert {p.name.split(".")[0] for p in export.glob("*.db")} == set(exportable_models())
    for model in exportable_models():
        db = export / f"{model}.split0.db"
        check_predictdb(db, export / f"{model}.split0.covariances.txt.gz")
        weights = read_predictdb(db)["weights"]
        n_nonzero = sum(
            int(np.count_nonzero(g.coef))
            for g in map(load_artefact, find_artefacts(workdir / "results", models=[model]))
            if g is not None
        )
        assert len(weights) == n_nonzero > 0, model
    top1 = read_predictdb(export / "top1.split0.db")["weights"]
    assert top1.groupby("gene").size().eq(1).all()
