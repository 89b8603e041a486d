"""Bad configuration and bad input stop the workflow with a clear message and no partial output."""

from __future__ import annotations

from conftest import run_workflow, tiny_config


def _failure_text(proc) -> str:
    return proc.stdout + proc.stderr


def test_config_key_of_the_wrong_type_is_a_schema_error(tiny_cohort, tmp_path):
    config = tiny_config(tiny_cohort, split={"test_fraction": "a fifth"})
    proc = run_workflow(tmp_path, config, check=False)
    assert proc.returncode != 0
    text = _failure_text(proc)
    assert "test_fraction" in text and "a fifth" in text
    assert not (tmp_path / "results").exists()


def test_unknown_config_key_is_rejected(tiny_cohort, tmp_path):
    config = tiny_config(tiny_cohort, cis={"window": 1000})
    proc = run_workflow(tmp_path, config, check=False)
    assert proc.returncode != 0
    assert "window" in _failure_text(proc)


def test_gene_list_naming_unknown_genes(tiny_cohort, tmp_path):
    gene_list = tmp_path / "genes.tsv"
    gene_list.write_text("gene_id\nNOT_A_GENE\n")
    config = tiny_config(
        tiny_cohort, select={"mode": "list", "p_max": 0.05, "gene_list": str(gene_list)}
    )
    proc = run_workflow(tmp_path / "run", config, check=False)
    assert proc.returncode != 0
    log = (tmp_path / "run/results/logs/select_genes.log").read_text()
    assert "NOT_A_GENE" in log and str(gene_list) in log
    assert not (tmp_path / "run/results/genes/selection.tsv").exists()


def test_gene_list_mode_trains_exactly_the_listed_genes_in_every_repeat(tiny_cohort, tmp_path):
    import pandas as pd

    with open(tiny_cohort["truth_genes"]) as handle:
        genes = pd.read_csv(handle, sep="\t")["gene_id"].tolist()[:2]
    gene_list = tmp_path / "genes.tsv"
    gene_list.write_text("\n".join(genes) + "\n")
    config = tiny_config(
        tiny_cohort,
        select={"mode": "list", "p_max": 0.05, "gene_list": str(gene_list)},
        split={"test_fraction": 0.2, "inner_folds": 5, "repeats": 2},
        truth={"genes": None, "variants": None},
        models=["enet"],
    )
    run_workflow(tmp_path / "run", config, "results/tables/r2.tsv")
    r2 = pd.read_csv(tmp_path / "run/results/tables/r2.tsv", sep="\t")
    assert sorted(r2["gene_id"]) == sorted(genes * 2)
    assert sorted(r2["split"].unique()) == [0, 1]
    split = pd.read_csv(tmp_path / "run/results/split/split.tsv", sep="\t")
    test_sets = [set(s.loc[s["set"] == "test", "sample"]) for _, s in split.groupby("repeat")]
    assert test_sets[0] != test_sets[1]


def test_too_few_shared_samples_stops_the_run_with_counts(tiny_cohort, tmp_path):
    config = tiny_config(tiny_cohort, samples={"min_count": 100_000})
    proc = run_workflow(tmp_path, config, check=False)
    assert proc.returncode != 0
    log = (tmp_path / "results/logs/prepare_cohort.log").read_text()
    assert "100000" in log or "100,000" in log
    assert not (tmp_path / "results/cohort/samples.tsv").exists()
