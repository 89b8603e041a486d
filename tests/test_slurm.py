"""The workflow through a real Slurm cluster (one node on this machine), as cluster users run it.

Runs `snakemake --executor slurm --profile config/profiles/slurm` on the tiny cohort, then checks
that the jobs went through Slurm, that the GPU-tagged deep fits were submitted with a GPU
request, that genes were fitted in chunks (one submission per chunk, not per gene), and that
the tables equal the shared local run's (tests/conftest.py) for the same models and chromosome.
Skips (visibly) only where Slurm can be neither found nor installed; under CI=true it fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import lines_where, snakemake_command
from slurm_cluster import Cluster, SlurmUnavailable, ensure_installed, job_details

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Hard limit on the run through Slurm: 132-215 s measured beside other work on 2 cores (16 jobs
# took 8 min on CI before the run was cut to one chromosome); pytest's own limit is 900 s.
SLURM_LIMIT_S = 720
MODELS = ["enet", "cnn"]
TABLES = ("results/genes/selection.tsv", "results/tables/r2.tsv")
# Both runs stop at r2.tsv: the jobs after it (comparison, figures, export) are covered by
# test_workflow.py, and each Slurm job re-parses the workflow.
TARGET = "results/tables/r2.tsv"
# Options for this test cluster only (no accounting database, so no sacct and no account).
TEST_OVERRIDES = (
    "--slurm-status-command=squeue",
    "--slurm-init-seconds-before-status-checks=1",
    "--seconds-between-status-checks=2",
    "--slurm-no-account",
    "--cores=2",
    "--latency-wait=5",
)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        ensure_installed()
        cluster.start()
    except SlurmUnavailable as err:
        cluster.stop()
        if IN_CI:
            pytest.fail(f"CI must run the Slurm test, but: {err}")
        pytest.skip(f"no local Slurm: {err}")
    except BaseException:
        cluster.stop()
        raise
    try:
        yield cluster
    finally:
        cluster.stop()
    left = subprocess.run(["pgrep", "-x", "slurmctld|slurmd"], capture_output=True, text=True)
    assert not left.stdout, f"Slurm daemons still running after the test: {left.stdout}"


def start_on_slurm(workdir: Path, config: dict) -> subprocess.Popen:
    """Start the workflow through Slurm in the background (it mostly waits on the queue)."""
    cmd, env = snakemake_command(workdir, config, *TEST_OVERRIDES, TARGET, profile="slurm")
    # the plugin can hang on a failing status command and ignore SIGTERM: hard limit
    cmd = ["timeout", "-k", "15", str(SLURM_LIMIT_S), *cmd]
    log = (workdir / "snakemake.out").open("w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)


def test_workflow_through_slurm_equals_a_local_run(
    slurm, shared_cohort_and_config, request, tmp_path
):
    # the shared run's config with two models, one chromosome and no truth tables: fewer jobs,
    # each of which re-parses the workflow
    _, shared, _ = shared_cohort_and_config
    config = shared | {"models": MODELS, "truth": {"genes": None, "variants": None}}
    config["genotypes"] = shared["genotypes"] | {"chromosomes": ["2"]}
    start = time.monotonic()
    proc = start_on_slurm(tmp_path / "slurm", config)
    try:
        local = request.getfixturevalue("shared_run").workdir  # meanwhile, built locally
        proc.wait(timeout=SLURM_LIMIT_S + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    seconds = time.monotonic() - start
    text = (tmp_path / "slurm" / "snakemake.out").read_text()
    assert proc.returncode == 0, f"{text[-6000:]}\n{slurm.logs()}"
    print(f"\nworkflow through Slurm (the shared run alongside): {seconds:.0f} s")

    # job id -> what the plugin submitted (rule_<name> or group_<group>_<rules>)
    submitted = dict(re.findall(r"SLURM jobid (\d+) \(log: \S*/slurm_logs/([^/]+)/", text))
    assert submitted, f"no Slurm job id in snakemake's output:\n{text[-4000:]}"
    jobs = {job_id: job_details(job_id) for job_id in submitted}
    assert {job["JobState"] for job in jobs.values()} == {"COMPLETED"}, jobs
    assert {"rule_prepare_cohort", "rule_select_genes", "rule_aggregate"} <= set(submitted.values())

    # genes went as one submission per chunk (model x chromosome, up to train.genes_per_job
    # genes), not one per gene
    kinds = sorted(submitted.values())
    assert not [k for k in kinds if k.startswith("rule_train_")], kinds
    selection = pd.read_csv(tmp_path / "slurm" / TABLES[0], sep="\t")
    chosen = selection[selection["status"] == "selected"]
    n_chunks = chosen["chrom"].nunique()  # fewer genes per chromosome than genes_per_job
    assert n_chunks == 1
    assert len(chosen) > n_chunks, "more genes than chromosomes, so that chunking is visible"
    assert kinds.count("group_fit_linear_train_linear") == n_chunks, kinds
    assert kinds.count("group_fit_deep_train_deep") == n_chunks, kinds

    # the GPU-tagged rule asked Slurm for a GPU, the linear fits did not
    def gpu_request(job_id):
        job = jobs[job_id]
        return "gpu" in job.get("TresPerJob", "") + job.get("TresPerNode", "")

    by_kind = {kind: job_id for job_id, kind in submitted.items()}
    assert gpu_request(by_kind["group_fit_deep_train_deep"]), jobs
    assert not gpu_request(by_kind["group_fit_linear_train_linear"]), jobs

    # the tables equal the shared local run's rows of these models and chromosome 2's genes
    genes = selection["gene_id"]
    assert (tmp_path / "slurm" / TABLES[0]).read_text().splitlines() == lines_where(
        local / TABLES[0], chrom=["2"]
    )
    assert (tmp_path / "slurm" / TABLES[1]).read_text().splitlines() == lines_where(
        local / TABLES[1], model=MODELS, gene_id=genes
    )
