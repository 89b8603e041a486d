"""Shared fixtures: a tiny simulated cohort and a helper to run the real workflow on it."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# Snakemake profiles users run with: the ordinary end-to-end runs use the laptop one.
PROFILES = REPO / "config" / "profiles"


# Files that run the real workflow go first: `make test` hands whole files to its workers in
# collection order (--dist loadfile --no-loadscope-reorder), and a long file started last would
# leave the other workers idle. The files that compare a run of their own with the shared run
# start their run before they wait for the shared one, so they run beside its build.
SLOW_FILES = (
    "test_workflow.py",
    "test_workflow_errors.py",  # many short runs one after another: the longest file
    "test_leakage.py",
    "test_rerun.py",
    "test_slurm.py",
    "test_workflow_plink.py",
    "test_stage2.py",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "workflow: runs the real Snakemake workflow (`make unit` leaves these out)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.workflow)


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory) -> dict[str, str]:
    """The `tiny` preset of `twasnet simulate`, written once per test session."""
    from twasnet.simulate import PRESETS, simulate_cohort

    out = tmp_path_factory.mktemp("tiny_cohort")
    return simulate_cohort(PRESETS["tiny"], out_dir=out)


from twasnet.models.registry import MODELS  # noqa: E402

ALL_MODELS = tuple(MODELS)
# Small training budgets: the workflow tests check wiring and invariants, not accuracy (the
# models' accuracy is tested in test_deep.py and benchmarks/). A lenient screen and no margin,
# so the tiny run's deep fits keep terms and the encoder and every path is exercised.
TINY_DEEP = {
    "device": "cpu",
    "n_se": 0.0,
    "terms": {"candidates": 16, "max_terms": 4, "alpha": 0.5},
    "architecture": {"candidates": 16, "channels": [4], "hidden": 8},
    "training": {"max_epochs": 5},
}


def tiny_config(cohort: dict[str, str], **overrides) -> dict:
    """A workflow config for the tiny cohort; ``overrides`` replace top-level keys."""
    config = {
        "seed": 11,
        "genotypes": {"path": cohort["genotypes"], "maf_min": 0.01, "missing_rate_max": 0.1},
        "expression": cohort["expression"],
        "covariates": cohort["covariates"],
        "annotations": {"path": cohort["annotations"], "fill_value": 0.0},
        "truth": {"genes": cohort["truth_genes"], "variants": cohort["truth_variants"]},
        "samples": {"min_count": 50},
        "cis": {"window_bp": 100_000},
        "split": {"test_fraction": 0.2, "inner_folds": 5, "repeats": 1},
        "select": {"mode": "all", "p_max": 0.05, "gene_list": None},
        "models": list(ALL_MODELS),
        "enet": {"alpha": 0.5, "n_lambda": 100, "lambda_min_ratio": None},
        "enet_annot": {"strengths": [0, 1]},
        "enet_features": {"terms": TINY_DEEP["terms"]},
        "cnn": TINY_DEEP,
        "cnn_annot": TINY_DEEP | {"strengths": [0, 1], "prior": {"p_threshold": 0.05}},
    }
    config.update(overrides)
    return config


def snakemake_command(
    workdir: Path, config: dict, *extra: str, profile: str = "laptop"
) -> tuple[list[str], dict[str, str]]:
    """Write ``config`` into ``workdir`` and return the Snakemake command line (with the named
    profile of config/profiles) and the environment it runs in."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    cmd = [
        SNAKEMAKE,
        *("--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)),
        *("--configfile", str(config_path), "--profile", str(PROFILES / profile)),
        *extra,
    ]
    return cmd, env


@dataclass(frozen=True)
class SharedRun:
    """The one finished tiny workflow run of a test session: its directory, config and cohort
    (the tiny preset with a simulated target cohort, ``twasnet simulate`` file names)."""

    workdir: Path
    config: dict
    cohort: dict[str, str]

    def copy(self, dest: Path) -> Path:
        """A copy of the run (modification times kept, so Snakemake sees it up to date) for a
        test that runs Snakemake in it: the shared directory itself is only ever read."""
        shutil.copytree(self.workdir, dest, symlinks=True)
        return dest


def shared_config(cohort: dict[str, str]) -> dict:
    """Every model, REML selection, per-gene tests and top genes in the comparison, the
    PredictDB export and stage 2 on the target cohort."""
    return tiny_config(
        cohort,
        select={"mode": "reml", "p_max": 0.05, "gene_list": None},
        compare={"per_gene_test": True, "n_bootstrap": 200, "top_genes": 1},
        target={
            "genotypes": cohort["target_genotypes"],
            "phenotype": cohort["target_phenotype"],
            "covariates": cohort["target_covariates"],
        },
    )


@pytest.fixture(scope="session")
def shared_cohort_and_config(tmp_path_factory, worker_id) -> tuple[Path, dict, dict[str, str]]:
    """The shared run's directory, config and cohort, simulated once per session (under a lock
    every pytest-xdist worker takes) but not yet run: for tests that start a run of their own
    from the same cohort before they wait for the shared run."""
    from dataclasses import replace

    from twasnet.simulate import PRESETS, simulate_cohort

    root = tmp_path_factory.getbasetemp()
    root = root if worker_id == "master" else root.parent
    with _locked(root / "shared_cohort.lock"):
        done = root / "shared_cohort.json"
        if not done.exists():
            preset = replace(PRESETS["tiny"], n_target=300)
            cohort = simulate_cohort(preset, out_dir=root / "shared_cohort")
            done.write_text(json.dumps(cohort))
        cohort = json.loads(done.read_text())
    return root / "shared_run", shared_config(cohort), cohort


@pytest.fixture(scope="session")
def shared_run(shared_cohort_and_config) -> SharedRun:
    """The one finished tiny workflow run, built by the first worker that asks for it while the
    others wait; tests read it and never change it (:meth:`SharedRun.copy` to run in it)."""
    workdir, config, cohort = shared_cohort_and_config
    with _locked(workdir.parent / "shared_run.lock"):
        done = workdir / "finished"
        if not done.exists():
            shutil.rmtree(workdir, ignore_errors=True)  # a build that failed in another worker
            run_workflow(workdir, config, nice=0)
            done.write_text("")
    return SharedRun(workdir, config, cohort)


@contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (flock), across processes, for the ``with`` block."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def assert_trained_together(workdir: Path, models: list[str]) -> None:
    """The run's training logs show each model's genes fitted together (batch_genes), never
    one at a time after a batch failed."""
    for model in models:
        logs = [p.read_text() for p in (workdir / "results/logs/train" / model).glob("*/*.log")]
        assert any("fitting together: " in text for text in logs), model
        assert not any("one at a time" in text for text in logs), model


def lines_where(path: Path, **allowed) -> list[str]:
    """The header and the lines of the TSV at ``path`` whose column ``c`` holds one of
    ``allowed[c]`` for every keyword, as written: the part of a table two runs share, to compare
    byte for byte."""
    header, *lines = Path(path).read_text().splitlines()
    columns = header.split("\t")
    keep = {columns.index(c): set(map(str, v)) for c, v in allowed.items()}
    return [header] + [
        line for line in lines if all(line.split("\t")[i] in v for i, v in keep.items())
    ]


def run_workflow(
    workdir: Path, config: dict, *extra: str, check: bool = True, nice: int = 10
) -> subprocess.CompletedProcess:
    """Run the real Snakemake workflow in ``workdir`` with ``config``; returns the process.
    ``nice``: the run's niceness. Every run but the shared one's build is niced, so the build
    that most tests wait for gets the cores first and the others fill the time it leaves."""
    cmd, env = snakemake_command(workdir, config, "--cores", "2", *extra)
    cmd = ["nice", "-n", str(nice), *cmd]
    # a module's first run shares 2 cores with the other worker's: up to 8 min seen (pytest: 900 s)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=840)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc
