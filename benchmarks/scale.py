"""Whole-transcriptome scale: the DAG for 20,000 genes x 5 models, and one chromosome's extraction.

(a) DAG: a work directory whose upstream results exist as stubs (cis stores, cohort tables,
    priors) and whose selection.tsv lists 20,000 selected genes on 22 chromosomes; Snakemake
    builds the DAG of the fits (chunks of ``train.genes_per_job`` genes of one chromosome, the
    config's default unless ``--genes-per-job``) as a dry run with the SLURM profile (and its
    ``group-components``, if it sets any), in a child process. Reported: wall seconds, the
    child's peak RSS, the number of jobs and of cluster submissions.
(b) Extraction: a simulated chromosome with ~1,500 genes and 800 individuals (``twasnet
    simulate`` with --set overrides), then ``extract_chromosome`` in a child process: wall
    seconds and peak RSS.

Run: ``.venv/bin/python benchmarks/scale.py`` (a few minutes; ``--genes``/``--extract-genes`` to
try smaller sizes). Prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MODELS = ["enet", "enet_annot", "enet_features", "cnn", "cnn_annot"]
N_CHROM = 22


def stub_workdir(workdir: Path, n_genes: int, genes_per_job: int | None = None) -> Path:
    """Upstream outputs as empty stubs (older inputs first) and a selection of ``n_genes``."""
    chroms = [str(c) for c in range(1, N_CHROM + 1)]
    stub = workdir / "stub"
    paths = [stub / f"chr{c}.vcf.gz" for c in chroms]
    paths += [stub / "expression.bed.gz", stub / "covariates.tsv", stub / "annotations.parquet"]
    paths += [workdir / "results" / "cohort" / n for n in ("samples.tsv", "summary.json")]
    paths += [workdir / "results" / "cohort" / n for n in ("expression.parquet",)]
    paths += [workdir / "results" / "cohort" / "covariates.parquet"]
    paths += [workdir / "results" / "split" / "split.tsv"]
    for c in chroms:
        names = ("dosages.npy", "variants.parquet", "genes.tsv", "summary.json")
        paths += [workdir / "results" / "cis" / c / n for n in names]
    selection = workdir / "results" / "genes" / "selection.tsv"
    paths += [selection]
    paths += [workdir / "results" / "priors" / n for n in ("enet_annot.split0.json",)]
    paths += [workdir / "results" / "priors" / "cnn_annot.split0.json"]
    rows = ["gene_id\tchrom\tsplit\tstatus\treason"]
    rows += [f"G{g:05d}\t{chroms[g % N_CHROM]}\t0\tselected\tstub" for g in range(n_genes)]
    selection.parent.mkdir(parents=True, exist_ok=True)
    selection.write_text("\n".join(rows) + "\n")
    for i, path in enumerate(paths):  # each file newer than the ones it is made from
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
    config = {
        "genotypes": {"path": str(stub / "chr{chrom}.vcf.gz"), "chromosomes": chroms},
        "expression": str(stub / "expression.bed.gz"),
        "covariates": str(stub / "covariates.tsv"),
        "annotations": {"path": str(stub / "annotations.parquet")},
        "models": MODELS,
    }
    if genes_per_job is not None:
        config["train"] = {"genes_per_job": genes_per_job}
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return config_path


def slurm_profile() -> dict:
    return yaml.safe_load((REPO / "config" / "profiles" / "slurm" / "profile.yaml").read_text())


def run_child(cmd: list[str], *, merge: bool = False) -> tuple[str, float, float]:
    """Run ``cmd``; its stdout, wall seconds and peak RSS (MiB, the kernel's rusage of it)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=out if merge else err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[:3]} failed:\n{out.read()[-3000:]}\n{err.read()[-3000:]}")
        return out.read(), seconds, usage.ru_maxrss / 1024


GROUP_OF_RULE = {"train_linear": "fit_linear", "train_deep": "fit_deep"}


def count_submissions(
    dry_run_output: str, components: dict[str, int]
) -> tuple[dict[str, int], int]:
    """(jobs per rule, cluster submissions) from a dry run's job-count table. Each chunk job is
    its own DAG component, so Snakemake packs a group's jobs N at a time (``group-components``,
    1 where the profile sets none): ceil(jobs / N) submissions per group; other jobs one each;
    ``all`` runs locally."""
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry_run_output, flags=re.MULTILINE))
    counts = {rule: int(n) for rule, n in counts.items() if rule not in {"all", "total"}}
    submissions = 0
    for rule, n in counts.items():
        size = components.get(GROUP_OF_RULE.get(rule, ""), 1)
        submissions += -(-n // size)
    return counts, submissions


def default_genes_per_job() -> int:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return schema["properties"]["train"]["properties"]["genes_per_job"]["default"]


def bench_dag(
    n_genes: int,
    *,
    genes_per_job: int | None = None,
    snakefile: Path = REPO / "Snakefile",
    label: str = "",
) -> dict:
    """Dry run of the whole DAG with the SLURM profile, in a child process."""
    profile_dir = REPO / "config" / "profiles" / "slurm"
    listed = slurm_profile().get("group-components") or []
    components = {k: int(v) for k, v in (c.split("=") for c in listed)}
    with tempfile.TemporaryDirectory() as tmp:
        config = stub_workdir(Path(tmp), n_genes, genes_per_job)
        cmd = [str(Path(sys.executable).with_name("snakemake")), "--dry-run", "--quiet", "rules"]
        cmd += ["--snakefile", str(snakefile), "--directory", tmp, "--configfile", str(config)]
        # the stubs carry no Snakemake metadata: decide by modification times only
        cmd += ["--profile", str(profile_dir), "--rerun-triggers", "mtime"]
        stdout, seconds, rss = run_child(cmd, merge=True)
    counts, submissions = count_submissions(stdout, components)
    per_job = genes_per_job or default_genes_per_job()
    grouping = ", ".join(f"{k}={v}" for k, v in components.items()) or "no group-components"
    fits = sum(counts.get(rule, 0) for rule in GROUP_OF_RULE)
    return {
        "what": f"DAG{label}: {n_genes} genes x {len(MODELS)} models, dry run, SLURM profile,"
        f" genes_per_job={per_job}, {grouping}",
        "seconds": seconds,
        "peak_rss_mib": rss,
        "detail": f"{sum(counts.values())} jobs ({fits} fit chunks) -> {submissions} cluster"
        " submissions",
    }


# Runs in the child: twasnet's own cohort tables first (not timed), then one chromosome's
# extraction exactly as the extract_cis rule calls it.
EXTRACT_DRIVER = r"""
import json, sys, time
from pathlib import Path
from twasnet.stages.data import extract_chromosome, prepare_cohort
out, work, window = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
cohort = work / "cohort"
cohort.mkdir()
prepare_cohort(genotype_files=[str(out / "genotypes" / "chr1.vcf.gz")],
               expression_path=str(out / "expression.bed.gz"),
               covariates_path=str(out / "covariates.tsv"), min_samples=50,
               out_samples=str(cohort / "samples.tsv"),
               out_expression=str(cohort / "expression.parquet"),
               out_covariates=str(cohort / "covariates.parquet"),
               out_summary=str(cohort / "summary.json"))
start = time.monotonic()
extract_chromosome(chrom="1", genotype_path=str(out / "genotypes" / "chr1.vcf.gz"),
                   samples_path=str(cohort / "samples.tsv"),
                   expression_path=str(cohort / "expression.parquet"),
                   annotations_path=str(out / "annotations.parquet"), window_bp=window,
                   dosage_field=None, maf_min=0.01, missing_rate_max=0.1, hwe_p_min=None,
                   annotation_fill=0.0, out_dir=str(work / "cis"))
seconds = time.monotonic() - start
summary = json.loads((work / "cis" / "summary.json").read_text())
print(json.dumps({"seconds": seconds, "summary": summary}))
"""


def bench_extract(
    n_genes: int, n_individuals: int, *, length_bp: int, window_bp: int, cohort: str | None
) -> dict:
    """Simulate one chromosome (or reuse ``cohort``, a `twasnet simulate` output) and time
    extract_chromosome on it in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        simulate_seconds = 0.0
        if cohort is None:
            cohort = str(Path(tmp) / "simulated")
            sets = {
                "n_genes": n_genes,
                "n_individuals": n_individuals,
                "n_chromosomes": 1,
                "chromosome_length_bp": length_bp,
            }
            cmd = [str(Path(sys.executable).with_name("twasnet")), "simulate", "--preset", "demo"]
            cmd += ["--out", cohort] + [x for k, v in sets.items() for x in ("--set", f"{k}={v}")]
            t0 = time.monotonic()
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            simulate_seconds = time.monotonic() - t0
        params = json.loads((Path(cohort) / "simulation.json").read_text())
        driver = [sys.executable, "-c", EXTRACT_DRIVER, cohort, tmp, str(window_bp)]
        stdout, _, rss = run_child(driver)
    info = json.loads(stdout.strip().splitlines()[-1])
    simulated = params.get("parameters", params)
    return {
        "what": f"extract_cis, 1 chromosome of {simulated.get('chromosome_length_bp', 0) / 1e6:.0f}"
        f" Mb, {simulated.get('n_genes')} genes x {simulated.get('n_individuals')} individuals,"
        f" window ±{window_bp // 1000} kb",
        "seconds": info["seconds"],
        "peak_rss_mib": rss,
        "detail": f"{info['summary']['n_variants']} variants kept"
        + (f" (simulation: {simulate_seconds:.0f} s, not counted)" if simulate_seconds else ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=20_000, help="genes in the DAG benchmark")
    parser.add_argument(
        "--genes-per-job", type=int, help="train.genes_per_job (default: the config default)"
    )
    parser.add_argument("--extract-genes", type=int, default=1_500)
    parser.add_argument("--individuals", type=int, default=800)
    parser.add_argument("--length-bp", type=int, default=60_000_000)
    parser.add_argument("--window-bp", type=int, default=1_000_000)
    parser.add_argument("--skip-extract", action="store_true")
    parser.add_argument("--skip-dag", action="store_true")
    parser.add_argument("--cohort", help="reuse a `twasnet simulate` output for (b)")
    args = parser.parse_args()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = [] if args.skip_dag else [bench_dag(args.genes, genes_per_job=args.genes_per_job)]
    if not args.skip_extract:
        rows.append(
            bench_extract(
                args.extract_genes,
                args.individuals,
                length_bp=args.length_bp,
                window_bp=args.window_bp,
                cohort=args.cohort,
            )
        )
    print(f"load average (1, 5, 15 min) before: {load_before}")
    print(f"{'benchmark':<100} {'seconds':>8} {'peak RSS MiB':>13}  detail")
    for row in rows:
        numbers = f"{row['seconds']:>8.1f} {row['peak_rss_mib']:>13.0f}"
        print(f"{row['what']:<100} {numbers}  {row['detail']}")
    print(f"load average (1, 5, 15 min) after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
