"""Reproducible: the shared run's config run again in another directory (four of its models), with
genes fitted in chunks of 2 instead of one job per chromosome and model (train.genes_per_job),
and the deep models' two genes of a chunk trained together (batch_genes) instead of one after
another, gives byte-identical r2.tsv rows and held-out predictions with the same input hashes;
chunks follow the selection; a gene that fails inside a chunk is recorded without stopping the
others."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import assert_trained_together, lines_where, run_workflow

from twasnet.cohort import CohortFiles
from twasnet.stages.training import train

# linear and deep, each with and without an across-gene prior (the leakage test retrains every
# model of the shared run in a fresh directory, and the forced rerun of test_workflow.py
# recomputes every table from the same fits)
MODELS = ["enet", "enet_annot", "cnn", "cnn_annot"]
R2 = "results/tables/r2.tsv"


@pytest.fixture(scope="module")
def rerun(shared_cohort_and_config, tmp_path_factory):
    """The rerun, started before the shared run is waited for: the two go side by side."""
    _, config, _ = shared_cohort_and_config
    other = tmp_path_factory.mktemp("rerun")
    run_workflow(other, config | changes(config), R2, "results/provenance/static.json")
    return other


def changes(config: dict) -> dict:
    """The rerun's config changes: four models, chunks of 2 genes, deep genes trained in pairs."""
    batched = {m: config[m] | {"batch_genes": 2} for m in ("cnn", "cnn_annot")}
    return {"models": MODELS, "train": {"genes_per_job": 2}} | batched


def test_rerun_gives_byte_identical_tables_fits_and_input_hashes(rerun, request):
    """Also batched deep training against one gene at a time (the shared run's, on CPU)."""
    workdir = request.getfixturevalue("shared_run").workdir  # after the rerun: side by side
    assert not list((workdir / "results/chunks/enet").glob("*/chunk1.split0.tsv"))
    assert list((rerun / "results/chunks/enet").glob("*/chunk1.split0.tsv"))
    assert (rerun / R2).read_text().splitlines() == lines_where(workdir / R2, model=MODELS)
    fits = prediction_files(rerun)
    assert {p.parts[2] for p in fits} == set(MODELS)
    assert fits == [p for p in prediction_files(workdir) if p.parts[2] in MODELS]
    for path in fits:
        assert (workdir / path).read_bytes() == (rerun / path).read_bytes(), path
    assert_trained_together(rerun, ["cnn", "cnn_annot"])
    first = json.loads((workdir / "results/provenance.json").read_text())
    second = json.loads((rerun / "results/provenance.json").read_text())
    assert first["inputs"] == second["inputs"]
    assert second["config"] == first["config"] | changes(first["config"])


def prediction_files(workdir):
    paths = workdir.glob("results/fits/*/*/*.predictions.tsv")
    return sorted(p.relative_to(workdir) for p in paths)


def test_chunks_follow_the_selection_within_one_chromosome(rerun):
    small = rerun
    selection = pd.read_csv(small / "results/genes/selection.tsv", sep="\t", dtype=str)
    chosen = selection[selection["status"] == "selected"]
    assert chosen.groupby("chrom").size().max() > 2, "a chromosome with more than one chunk"
    for model in MODELS:
        for chrom, genes in chosen.groupby("chrom", sort=False)["gene_id"]:
            genes = genes.tolist()
            tables = sorted(
                (small / f"results/chunks/{model}/{chrom}").glob("chunk*.split0.tsv"),
                key=lambda p: int(p.name[5:].split(".")[0]),
            )
            listed = [pd.read_csv(t, sep="\t", dtype=str) for t in tables]
            sizes = [min(2, len(genes) - i) for i in range(0, len(genes), 2)]
            assert [len(t) for t in listed] == sizes
            assert [g for t in listed for g in t["gene_id"]] == genes
            assert all(t["status"].eq("ok").all() for t in listed)
            # each row names its gene's four files under the fit layout, and they exist
            for t in listed:
                for row in t.itertuples():
                    assert row.record == f"results/fits/{model}/{chrom}/{row.gene_id}.split0.json"
                    for path in (row.record, row.predictions, row.importance, row.artefact):
                        assert (small / path).is_file(), path


@pytest.mark.parametrize("model", ["enet", "cnn"])
def test_a_failing_gene_is_recorded_and_the_chunk_goes_on(
    model, rerun, shared_cohort_and_config, tmp_path, caplog
):
    """Also when the genes are fitted together: the batch is fitted again one gene at a time."""
    workdir = rerun
    params = shared_cohort_and_config[1][model] | ({"batch_genes": 3} if model == "cnn" else {})
    artefact = "model.pt" if model == "cnn" else "model.json"
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
                ("artefact", artefact),
            )
        }
        for gene in genes
    ]
    results = workdir / "results"
    train(
        model_name=model,
        model_params=params,
        gene_ids=genes,
        split=0,
        store_dir=str(results / "cis" / chrom),
        cohort_files=CohortFiles.under(results),
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
        ran = results / f"fits/{model}/{chrom}/{gene}.split0.predictions.tsv"
        assert ran.read_bytes() == open(out["predictions"], "rb").read()
    assert ("one at a time" in caplog.text) == (model == "cnn")
