"""Genes fitted in chunks (config train.genes_per_job): the same results whatever the chunk size,
and a gene that fails inside a chunk is recorded without stopping the others."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import run_workflow, tiny_config

from twasnet.stages.training import train

# linear and deep, with and without a prior (cnn_annot loads its prior as enet_annot does)
MODELS = ["enet", "enet_annot", "cnn"]


@pytest.fixture(scope="module")
def runs(tiny_cohort, tmp_path_factory):
    """The tiny workflow (up to r2.tsv) with 3 genes per job and with one job per chromosome."""
    out = {}
    for size in (3, 50):
        workdir = tmp_path_factory.mktemp(f"genes_per_job_{size}")
        config = tiny_config(
            tiny_cohort,
            models=MODELS,
            train={"genes_per_job": size},
            truth={"genes": None, "variants": None},
            export={"predictdb": False},
        )
        run_workflow(workdir, config, "results/tables/r2.tsv")
        out[size] = workdir
    return out


def test_chunk_size_does_not_change_results(runs):
    whole, three = runs[50], runs[3]
    assert len(list((whole / "results/chunks/enet").glob("*/chunk1.split0.tsv"))) == 0
    r2 = (whole / "results/tables/r2.tsv").read_bytes()
    assert r2 == (three / "results/tables/r2.tsv").read_bytes()
    table = pd.read_csv(whole / "results/tables/r2.tsv", sep="\t")
    assert set(table["model"]) == set(MODELS) and table["status"].eq("ok").all()
    fits = prediction_files(whole)
    assert fits and fits == prediction_files(three)
    for path in fits:
        assert (whole / path).read_bytes() == (three / path).read_bytes(), path


def prediction_files(workdir):
    paths = workdir.glob("results/fits/*/*/*.predictions.tsv")
    return sorted(p.relative_to(workdir) for p in paths)


def test_chunks_follow_the_selection_within_one_chromosome(runs):
    three = runs[3]
    selection = pd.read_csv(three / "results/genes/selection.tsv", sep="\t", dtype=str)
    chosen = selection[selection["status"] == "selected"]
    for model in MODELS:
        for chrom, genes in chosen.groupby("chrom", sort=False)["gene_id"]:
            genes = genes.tolist()
            tables = sorted(
                (three / f"results/chunks/{model}/{chrom}").glob("chunk*.split0.tsv"),
                key=lambda p: int(p.name[5:].split(".")[0]),
            )
            listed = [pd.read_csv(t, sep="\t", dtype=str) for t in tables]
            sizes = [min(3, len(genes) - i) for i in range(0, len(genes), 3)]
            assert [len(t) for t in listed] == sizes
            assert [g for t in listed for g in t["gene_id"]] == genes
            assert all(t["status"].eq("ok").all() for t in listed)
            # each row names its gene's four files under the fit layout, and they exist
            for t in listed:
                for row in t.itertuples():
                    assert row.record == f"results/fits/{model}/{chrom}/{row.gene_id}.split0.json"
                    for path in (row.record, row.predictions, row.importance, row.artefact):
                        assert (three / path).is_file(), path


def test_a_failing_gene_is_recorded_and_the_chunk_goes_on(runs, tmp_path):
    workdir = runs[3]
    selection = pd.read_csv(workdir / "results/genes/selection.tsv", sep="\t", dtype=str)
    chosen = selection[selection["status"] == "selected"]
    chrom = chosen["chrom"].iloc[0]
    real = chosen.loc[chosen["chrom"] == chrom, "gene_id"].tolist()[:2]
    genes = [real[0], "NOT_A_GENE", *real[1:]]
    outputs = [
        {
            kind: str(tmp_path / f"{gene}.{suffix}")
            for kind, suffix in (
                ("record", "json"),
                ("predictions", "predictions.tsv"),
                ("importance", "importance.tsv"),
                ("artefact", "model.json"),
            )
        }
        for gene in genes
    ]
    results = workdir / "results"
    train(
        model_name="enet",
        model_params={"alpha": 0.5, "n_lambda": 100, "lambda_min_ratio": None},
        gene_ids=genes,
        split=0,
        store_dir=str(results / "cis" / chrom),
        samples_path=str(results / "cohort/samples.tsv"),
        expression_path=str(results / "cohort/expression.parquet"),
        covariates_path=str(results / "cohort/covariates.parquet"),
        split_path=str(results / "split/split.tsv"),
        window_bp=100_000,
        seed=11,
        threads=1,
        outputs=outputs,
        out_table=str(tmp_path / "chunk.tsv"),
    )
    table = pd.read_csv(tmp_path / "chunk.tsv", sep="\t", dtype=str)
    assert table["gene_id"].tolist() == genes
    assert table["status"].tolist() == ["ok", "failed", *["ok"] * (len(genes) - 2)]
    assert "KeyError" in table["reason"].iloc[1] and "NOT_A_GENE" in table["reason"].iloc[1]
    failed = json.loads((tmp_path / "NOT_A_GENE.json").read_text())
    assert failed["status"] == "failed" and failed["r2_pearson"] is None
    # the genes around it: exactly what the workflow's own chunk wrote for them
    for gene, out in zip(genes, outputs, strict=True):
        if gene == "NOT_A_GENE":
            continue
        ran = results / f"fits/enet/{chrom}/{gene}.split0.predictions.tsv"
        assert ran.read_bytes() == open(out["predictions"], "rb").read()
