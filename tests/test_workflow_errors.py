"""Bad configuration and bad input stop the workflow with a clear message and no partial output."""

from __future__ import annotations

import json

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


def _copy_genotypes(cohort: dict[str, str], directory) -> str:
    """A copy of the cohort's genotype files (with indices, copied after them) to spoil."""
    import shutil
    from pathlib import Path

    source = Path(cohort["genotypes"]).parent
    directory.mkdir(parents=True)
    for name in sorted(p.name for p in source.iterdir()):  # x.vcf.gz before x.vcf.gz.tbi
        shutil.copy(source / name, directory / name)
    return str(directory / Path(cohort["genotypes"]).name)


def test_truncated_genotype_file_stops_the_run_naming_it(tiny_cohort, tmp_path):
    import os

    pattern = _copy_genotypes(tiny_cohort, tmp_path / "geno")
    chr1 = pattern.replace("{chrom}", "1")
    os.truncate(chr1, int(os.path.getsize(chr1) * 0.6))
    os.utime(chr1 + ".tbi")  # the index kept (and not older than the file)
    config = tiny_config(tiny_cohort, genotypes={"path": pattern})
    proc = run_workflow(tmp_path / "run", config, "results/cohort/samples.tsv", check=False)
    assert proc.returncode != 0
    expected = f"Genotype file {chr1!r} is truncated"
    assert expected in proc.stderr
    assert expected in (tmp_path / "run/results/logs/prepare_cohort.log").read_text()
    assert not (tmp_path / "run/results/cohort/samples.tsv").exists()


def _drop_records(vcf: str, keep_every: int) -> None:
    """Rewrite the bgzipped ``vcf`` keeping every ``keep_every``-th record (its index untouched)."""
    import gzip

    import pysam

    with gzip.open(vcf, "rt") as handle:
        lines = handle.readlines()
    header = [line for line in lines if line.startswith("#")]
    records = [line for line in lines if not line.startswith("#")]
    with open(vcf + ".plain", "w") as handle:
        handle.writelines(header + records[::keep_every])
    pysam.tabix_compress(vcf + ".plain", vcf, force=True)


def test_vcf_rewritten_under_its_old_index_and_reindexing(tiny_cohort, tmp_path):
    import os

    import pysam

    pattern = _copy_genotypes(tiny_cohort, tmp_path / "geno")
    chr1 = pattern.replace("{chrom}", "1")
    config = tiny_config(tiny_cohort, genotypes={"path": pattern})
    target = "results/cis/1/genes.tsv"
    summary = tmp_path / "run/results/cis/1/summary.json"
    run_workflow(tmp_path / "run", config, target)
    n_before = json.loads(summary.read_text())["n_variants"]

    _drop_records(chr1, keep_every=2)  # records removed, the old .tbi kept
    proc = run_workflow(tmp_path / "run", config, target, check=False)
    assert proc.returncode != 0
    expected = f"Genotype file {chr1!r} is newer than its index {chr1 + '.tbi'!r}"
    assert expected in proc.stderr and f"tabix -f -p vcf {chr1}" in proc.stderr
    assert not summary.exists()

    pysam.tabix_index(chr1, preset="vcf", force=True)  # as `tabix -f -p vcf` does
    run_workflow(tmp_path / "run", config, target)
    n_after = json.loads(summary.read_text())["n_variants"]
    assert 0 < n_after < n_before

    # the index is an input of extract_cis: a new index alone (the file's mtime older than the
    # outputs) makes the store out of date
    stamp = os.stat(chr1).st_mtime_ns
    _drop_records(chr1, keep_every=2)
    pysam.tabix_index(chr1, preset="vcf", force=True)
    os.utime(chr1, ns=(stamp, stamp))
    dry = run_workflow(tmp_path / "run", config, target, "-n")
    assert "extract_cis" in dry.stdout and "prepare_cohort" not in dry.stdout


def test_annotations_shifted_by_one_warn_with_the_match_rate(tiny_cohort, tmp_path):
    import pandas as pd

    annotations = pd.read_parquet(tiny_cohort["annotations"])
    annotations["pos"] += 1
    shifted = tmp_path / "shifted.parquet"
    annotations.to_parquet(shifted)
    config = tiny_config(tiny_cohort, annotations={"path": str(shifted), "fill_value": 0.0})
    proc = run_workflow(tmp_path / "run", config, "results/cis/1/genes.tsv")
    expected = f"Annotation file {str(shifted)!r} matches only"
    log = (tmp_path / "run/results/logs/extract_cis/1.log").read_text()
    for text in (proc.stderr, log):
        assert expected in text and "genome build" in text and "0-based" in text
        assert "would match if the annotation positions were shifted by -1 bp" in text
    table = pd.read_csv(tmp_path / "run/results/cis/1/annotation_match.tsv", sep="\t")
    assert table["low_match"].tolist() == [True]
    assert table["match_rate"].iloc[0] < 0.5 < table["match_rate_if_annotations_minus_1"].iloc[0]


def test_degenerate_covariates_dropped_and_lost_samples_shown(tiny_cohort, tmp_path):
    import pandas as pd

    from twasnet.cohort import intersect_samples
    from twasnet.io.expression import read_expression_bed
    from twasnet.io.vcf import vcf_samples

    table = pd.read_csv(tiny_cohort["covariates"], sep="\t", index_col=0)
    table.loc["CONSTANT"] = 1.0
    table.loc["PC1_TWICE"] = 2 * table.loc["PC1"] + 3
    before = intersect_samples(
        genotype=vcf_samples(tiny_cohort["genotypes"].replace("{chrom}", "1")),
        expression=list(read_expression_bed(tiny_cohort["expression"]).values.columns),
        covariates=list(table.columns),
        min_samples=1,
    )
    lacking = before.samples[:30]  # in every input so far: only the covariates now lack them
    left_out = {s for ids in before.only_in.values() for s in ids}
    n_lacking = 30 + sum(s not in table.columns for s in left_out)
    covariates = tmp_path / "covariates.tsv"
    table.drop(columns=lacking).to_csv(covariates, sep="\t")
    config = tiny_config(tiny_cohort, covariates=str(covariates))
    targets = ("results/cohort/samples.tsv", "results/genes/selection.tsv")
    proc = run_workflow(tmp_path / "run", config, *targets)
    log = (tmp_path / "run/results/logs/prepare_cohort.log").read_text()
    for text in (proc.stderr, log):
        assert "WARNING" in text and "dropping 2 covariate(s)" in text
        assert "'CONSTANT': constant (1 for every sample)" in text
        assert "'PC1_TWICE': collinear with 'PC1'" in text
        assert (
            f"{n_lacking} samples are missing from the covariates file {str(covariates)!r}" in text
        )
        assert f"so the cohort has {len(before.samples) - 30}:" in text
    kept = pd.read_parquet(tmp_path / "run/results/cohort/covariates.parquet")
    assert "CONSTANT" not in kept and "PC1_TWICE" not in kept
    assert len(kept) == len(before.samples) - 30
    selection = pd.read_csv(tmp_path / "run/results/genes/selection.tsv", sep="\t")
    assert not selection["status"].eq("reml_failed").any()


def test_no_gene_selected_gives_empty_tables_and_a_message(tiny_cohort, tmp_path):
    import pandas as pd

    config = tiny_config(
        tiny_cohort,
        select={"mode": "reml", "p_max": 1e-12, "gene_list": None},
        models=["enet", "enet_annot"],
        truth={"genes": None, "variants": None},
    )
    targets = ("results/tables/r2.tsv", "results/tables/comparison.tsv")
    proc = run_workflow(tmp_path / "run", config, *targets)
    assert "No gene was selected for training" in proc.stderr
    assert "select.p_max (1e-12)" in proc.stderr
    assert "No gene has a valid held-out result" in proc.stderr
    for name in ("r2.tsv", "comparison.tsv", "comparison_genes.tsv", "r2_wide.tsv"):
        assert pd.read_csv(tmp_path / "run/results/tables" / name, sep="\t").empty
    markdown = (tmp_path / "run/results/tables/comparison.md").read_text()
    assert "No gene has a valid held-out result" in markdown
