"""Outputs are as readable as the user's umask allows, like files written with a plain open()."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twasnet.io.store import (
    atomic_output,
    default_file_mode,
    write_artefact,
    write_cis_store,
    write_json,
    write_table,
)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _plain_mode(directory: Path) -> int:
    probe = directory / "plain.txt"
    with open(probe, "w") as handle:
        handle.write("x")
    return _mode(probe)


def test_every_writer_gives_the_mode_of_a_plain_open(tmp_path, umask_022):
    frame = pd.DataFrame({"gene_id": ["g1"], "r2": [0.5]})
    write_table(frame, tmp_path / "t.tsv")
    write_table(frame, tmp_path / "t.parquet")
    write_json({"a": 1}, tmp_path / "r.json")
    write_artefact({"a": 1}, tmp_path / "m.json")
    write_artefact({"w": np.zeros(2)}, tmp_path / "m.pt")
    write_cis_store(
        tmp_path / "store",
        dosages=np.zeros((1, 2), dtype=np.float32),
        variants=pd.DataFrame({"chrom": ["1"], "pos": [10]}),
        genes=pd.DataFrame({"gene_id": ["g1"], "first": [0], "stop": [1]}),
    )
    with atomic_output(tmp_path / "page.html") as tmp:
        tmp.unlink()  # writers such as sqlite3 recreate the file
        tmp.write_text("<p>")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) == 9
    assert default_file_mode() == 0o644 == _plain_mode(tmp_path)
    assert {p.name: _mode(p) for p in written} == {p.name: 0o644 for p in written}


def test_mode_follows_a_stricter_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "t.tsv") == 0o600
