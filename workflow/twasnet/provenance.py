"""Provenance of a run, and the rerun check.

``results/provenance.json`` answers "what produced these tables": twasnet's version and git commit,
Python and package versions, the compute device, the full configuration (after schema defaults)
with its hash, the SHA-256 of every input file, the seeds, and the run's start and end times.
:func:`compare_runs` checks the tables of a rerun against a previous run's, byte for byte, and
says which cells differ when they do.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from twasnet import __version__

# Distributions whose versions can change a result (the solver, the readers, the workflow engine).
PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "torch",
    "adelie",
    "cyvcf2",
    "pysam",
    "bed-reader",
    "pgenlib",
    "msprime",
    "snakemake",
    "statsmodels",
)
# Tables whose bytes legitimately differ between identical runs (fit times, devices); the rerun
# check skips them. Everything else under ``tables/`` must be byte-identical.
VOLATILE_TABLES = ("fit_times.tsv",)
_CHUNK = 1 << 20


def now() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def config_hash(config: dict) -> str:
    """Hex SHA-256 of the configuration as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(directory: str | Path) -> dict[str, str | bool | None]:
    """The git commit of ``directory`` and whether its tracked files differ from it (None values
    when it is not a git checkout or git is missing)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def device_info() -> dict:
    """The machine: host, platform, CPU count, and the CUDA device torch would use (if any)."""
    import os

    info = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "cuda": None,
    }
    try:
        import torch

        if torch.cuda.is_available():
            info["cuda"] = {
                "device": torch.cuda.get_device_name(0),
                "torch_cuda": torch.version.cuda,
                "count": torch.cuda.device_count(),
            }
    except ImportError:
        pass
    return info


def static_provenance(
    *, config: dict, input_files: Sequence[str], workflow_dir: str | Path
) -> dict:
    """Everything about a run that does not depend on when it ran: versions, commit, device,
    config (full, after defaults) and its hash, SHA-256 and size of every input file, seeds."""
    inputs = {
        str(path): {"sha256": file_sha256(path), "bytes": Path(path).stat().st_size}
        for path in sorted(set(map(str, input_files)))
    }
    return {
        "twasnet_version": __version__,
        "git": git_state(workflow_dir),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "device": device_info(),
        "config": config,
        "config_sha256": config_hash(config),
        "inputs": inputs,
        "seeds": {
            "config_seed": config.get("seed"),
            "per_gene": "numpy SeedSequence([seed, crc32(gene_id), split]) (twasnet.train)",
        },
    }


def run_provenance(static: dict, *, started: str, finished: str, command: Sequence[str]) -> dict:
    """``static`` plus the run itself: start and end times (UTC) and the command line."""
    return static | {"run": {"started": started, "finished": finished, "command": list(command)}}


# ---------------------------------------------------------------------------- rerun check
def table_names(directory: str | Path) -> list[str]:
    """The tables of a run's ``tables/`` directory that must be reproducible (all ``*.tsv`` except
    :data:`VOLATILE_TABLES`), sorted."""
    return sorted(p.name for p in Path(directory).glob("*.tsv") if p.name not in VOLATILE_TABLES)


def compare_tables(previous: pd.DataFrame, new: pd.DataFrame, *, max_cells: int = 10) -> list[str]:
    """Human-readable differences between two versions of one table (empty when equal): shape,
    columns, then up to ``max_cells`` differing cells (row number, column, both values)."""
    if list(previous.columns) != list(new.columns):
        return [f"columns differ: {list(previous.columns)} vs {list(new.columns)}"]
    if len(previous) != len(new):
        return [f"row counts differ: {len(previous)} vs {len(new)}"]
    out = []
    for column in previous.columns:
        a, b = previous[column].to_numpy(), new[column].to_numpy()
        same = (a == b) | (pd.isna(a) & pd.isna(b))
        for row in np.flatnonzero(~np.asarray(same, dtype=bool)):
            if len(out) < max_cells:
                out.append(f"row {row + 1}, column {column}: {a[row]!r} -> {b[row]!r}")
            else:
                return [*out, "... (more cells differ)"]
    return out


def compare_runs(
    previous_dir: str | Path, new_dir: str | Path, *, tables: Sequence[str] | None = None
) -> pd.DataFrame:
    """Compare the tables of two runs' ``tables/`` directories: one row per table with
    ``status`` identical / different / missing_previous / missing_new and the differences.
    ``tables`` defaults to :func:`table_names` of both directories."""
    previous_dir, new_dir = Path(previous_dir), Path(new_dir)
    if tables is None:
        tables = sorted(set(table_names(previous_dir)) | set(table_names(new_dir)))
    rows = []
    for name in tables:
        a, b = previous_dir / name, new_dir / name
        if not a.exists() or not b.exists():
            status = "missing_previous" if not a.exists() else "missing_new"
            rows.append({"table": name, "status": status, "differences": ""})
            continue
        if a.read_bytes() == b.read_bytes():
            rows.append({"table": name, "status": "identical", "differences": ""})
            continue
        diffs = compare_tables(
            pd.read_csv(a, sep="\t", dtype=str), pd.read_csv(b, sep="\t", dtype=str)
        )
        rows.append(
            {
                "table": name,
                "status": "different",
                "differences": "; ".join(diffs) or "bytes differ (formatting only)",
            }
        )
    return pd.DataFrame(rows, columns=["table", "status", "differences"])
