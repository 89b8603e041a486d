"""Shared fixtures: a tiny simulated cohort and a helper to run the real workflow on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# Snakemake profiles users run with: the ordinary end-to-end runs use the laptop one.
PROFILES = REPO / "config" / "profiles"


# Files that run the real workflow for minutes go first: `make test` hands whole files to its
# workers in collection order (--dist loadfile --no-loadscope-reorder), and a long file started
# last would leave the other worker idle.
SLOW_FILES = (
    "test_slurm.py",
    "test_workflow.py",
    "test_stage2.py",
    "test_chunks.py",
    "test_workflow_errors.py",
    "test_workflow_plink.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))


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


def run_workflow(
    workdir: Path, config: dict, *extra: str, check: bool = True
) -> subprocess.CompletedProcess:
    """Run the real Snakemake workflow in ``workdir`` with ``config``; returns the process."""
    cmd, env = snakemake_command(workdir, config, "--cores", "2", *extra)
    # a module's first run shares 2 cores with the other worker's: up to 8 min seen (pytest: 900 s)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=840)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc
