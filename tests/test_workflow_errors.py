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


def test_truncated_expression_bed_stops_the_run_naming_it(tiny_cohort, tmp_path):
    import os
    import shutil

    expression = tmp_path / "expression.bed.gz"
    shutil.copy(tiny_cohort["expression"], expression)
    os.truncate(expression, int(os.path.getsize(expression) * 0.6))
    config = tiny_config(tiny_cohort, expression=str(expression))
    proc = run_workflow(tmp_path / "run", config, check=False)
    assert proc.returncode != 0
    text = _failure_text(proc)
    assert f"Expression file {str(expression)!r} is truncated" in text
    assert "Copy or download it again" in text and "EOFError" not in text
    assert not (tmp_path / "run/results").exists()


def _expression_with_genes_on_chr3(cohort: dict[str, str], path, n: int = 2) -> list[str]:
    """The cohort's expression BED with its last ``n`` genes moved to chromosome 3 (which has
    no genotype file); returns their ids."""
    import gzip

    import pysam

    with gzip.open(cohort["expression"], "rt") as handle:
        header, *rows = handle.readlines()
    moved = [row.split("\t", 1)[1] for row in rows[-n:]]
    rows[-n:] = ["chr3\t" + rest for rest in moved]
    plain = str(path) + ".plain"
    with open(plain, "w") as handle:
        handle.writelines([header, *rows])
    pysam.tabix_compress(plain, str(path), force=True)
    return [rest.split("\t")[2] for rest in moved]


def test_gene_on_a_chromosome_without_genotype_file_stops_at_start(tiny_cohort, tmp_path):
    expression = tmp_path / "expression.bed.gz"
    moved = _expression_with_genes_on_chr3(tiny_cohort, expression)
    config = tiny_config(tiny_cohort, expression=str(expression))
    proc = run_workflow(tmp_path / "run", config, check=False)
    assert proc.returncode != 0
    text = _failure_text(proc)
    chr3 = tiny_cohort["genotypes"].replace("{chrom}", "3")
    expected = (
        f"No genotype file (genotypes.path: {tiny_cohort['genotypes']!r}) for chromosome 3 "
        f"(2 gene(s) of {str(expression)!r}: {', '.join(moved)}): {chr3!r} does not exist. "
        "Provide the missing file(s), or set genotypes.chromosomes to the chromosomes to "
        "process (e.g. [1, 2])"
    )
    assert expected in text and "MissingInputException" not in text
    assert not (tmp_path / "run/results").exists()
    # as the message says: the chromosomes with genotypes, and the run plans without chr3
    genotypes = tiny_config(tiny_cohort)["genotypes"] | {"chromosomes": [1, 2]}
    config = tiny_config(tiny_cohort, expression=str(expression), genotypes=genotypes)
    dry = run_workflow(tmp_path / "run", config, "-n", "results/cohort/samples.tsv")
    assert "prepare_cohort" in dry.stdout and "chr3" not in dry.stdout + dry.stderr


def test_results_existing_as_a_file_stops_with_a_message(tiny_cohort, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "results").write_text("not a directory\n")
    proc = run_workflow(workdir, tiny_config(tiny_cohort), check=False)
    assert proc.returncode != 0
    text = _failure_text(proc)
    assert f"{str(workdir / 'results')!r} is a file, not a directory" in text
    assert "mv results results.old" in text and "NotADirectoryError" not in text
    assert (workdir / "results").read_text() == "not a directory\n"


# A training job whose second gene's fit hangs (as a long fit would) until it is killed: the real
# training stage, logged by run_logged as scripts/train.py runs it.
_HANGING_TRAIN = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from twasnet.cohort import CohortFiles
from twasnet.stages import training as stages
from twasnet.logs import run_logged

args = json.load(open(sys.argv[2]))
hang, fit = args.pop("hang"), stages.train_gene
args["cohort_files"] = CohortFiles.under(args.pop("results"))

def train_gene(gene, cohort, **kwargs):
    if gene.gene_id == hang:
        time.sleep(600)
    return fit(gene, cohort, **kwargs)

stages.train_gene = train_gene
run_logged(args.pop("log"), stages.train, **args)
"""


def test_killed_training_job_leaves_a_log_naming_how_far_it_got(tiny_cohort, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    import pandas as pd
    from conftest import REPO

    config = tiny_config(tiny_cohort, models=["enet"], truth={"genes": None, "variants": None})
    workdir = tmp_path / "run"
    run_workflow(workdir, config, "results/genes/selection.tsv")
    selection = pd.read_csv(workdir / "results/genes/selection.tsv", sep="\t", dtype=str)
    genes = selection.loc[selection["chrom"] == "1", "gene_id"].tolist()
    assert len(genes) >= 3
    stem = tmp_path / "fits"
    files = (
        ("record", "json"),
        ("predictions", "tsv"),
        ("importance", "tsv"),
        ("artefact", "json"),
    )
    log = tmp_path / "train.log"
    args = {
        "log": str(log),
        "hang": genes[1],
        "model_name": "enet",
        "model_params": config["enet"],
        "gene_ids": genes,
        "split": 0,
        "store_dir": str(workdir / "results/cis/1"),
        "results": str(workdir / "results"),
        "window_bp": config["cis"]["window_bp"],
        "seed": config["seed"],
        "threads": 1,
        "outputs": [{kind: str(stem / f"{g}.{kind}.{ext}") for kind, ext in files} for g in genes],
        "out_table": str(tmp_path / "chunk.tsv"),
    }
    (tmp_path / "args.json").write_text(json.dumps(args))
    (tmp_path / "hanging_train.py").write_text(_HANGING_TRAIN)
    job = subprocess.Popen(
        [
            sys.executable,
            str(tmp_path / "hanging_train.py"),
            str(REPO / "workflow"),
            str(tmp_path / "args.json"),
        ]
    )
    started = f"enet {genes[1]} split 0: gene 2 of {len(genes)}, fitting"
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and started in log.read_text()):
            assert job.poll() is None, "the training job ended before its second gene"
            assert time.monotonic() < deadline, "no log line for the second gene in 120 s"
            time.sleep(0.05)
    finally:
        job.send_signal(signal.SIGKILL)  # as kill -9
        job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL
    lines = log.read_text().splitlines()
    assert f"training enet on {len(genes)} gene(s) of the cis store" in lines[0]
    assert any(f"enet {genes[0]} split 0: gene 1 of {len(genes)}, fitting" in x for x in lines)
    assert any(f"enet {genes[0]} split 0: ok" in x for x in lines)
    assert lines[-1].endswith(started)  # the gene it was fitting when it was killed
    assert not (tmp_path / "chunk.tsv").exists()
