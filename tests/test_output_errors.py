"""A write that runs out of room (disk or quota full) is an error naming the file, and leaves
nothing at the final path nor beside it. A real full disk cannot be arranged in CI: the write is
made to fail as it does then (ENOSPC; numpy's short write without an errno; SQLite's "database or
disk is full")."""

from __future__ import annotations

import errno
import sqlite3

import numpy as np
import pandas as pd
import pytest

from twasnet.errors import OutputWriteError
from twasnet.io.store import atomic_output, write_cis_store, write_table


def _no_room(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _left_in(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_disk_full_while_writing_a_table_names_the_file_and_keeps_the_old_one(
    tmp_path, monkeypatch
):
    path = tmp_path / "r2.tsv"
    path.write_text("old\n")
    monkeypatch.setattr(pd.DataFrame, "to_csv", _no_room)
    with pytest.raises(OutputWriteError) as caught:
        write_table(pd.DataFrame({"a": [1.0]}), path)
    message = str(caught.value)
    assert message.startswith(f"Could not write {str(path)!r} (OSError: [Errno 28] No space")
    assert "the disk (or your quota) may be full" in message and f"df -h {tmp_path}" in message
    assert caught.value.errno == errno.ENOSPC
    assert _left_in(tmp_path) == ["r2.tsv"] and path.read_text() == "old\n"


def test_short_write_of_the_cis_store_is_reported_as_disk_full(tmp_path, monkeypatch):
    """numpy reports a write cut short by a full disk as OSError("... requested and ...
    written") without an errno (as extract_cis did)."""

    def short_write(*args, **kwargs):
        raise OSError("276120 requested and 231392 written")

    monkeypatch.setattr(np, "save", short_write)
    store = tmp_path / "cis/1"
    variants = pd.DataFrame({"chrom": ["1"], "pos": [5]})
    genes = pd.DataFrame({"gene_id": ["G1"]})
    with pytest.raises(OutputWriteError, match="requested and 231392 written") as caught:
        write_cis_store(store, dosages=np.zeros((1, 3)), variants=variants, genes=genes)
    assert f"Could not write {str(store / 'dosages.npy')!r}" in str(caught.value)
    assert _left_in(store) == []


def test_sqlite_disk_full_names_the_model_file(tmp_path, monkeypatch):
    from twasnet.export import predictdb

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(predictdb, "_create", full)
    db = tmp_path / "enet.split0.db"
    weights = pd.DataFrame(columns=list(predictdb.WEIGHT_COLUMNS))
    with pytest.raises(OutputWriteError, match="database or disk is full"):
        predictdb.write_predictdb(
            db, weights=weights, extra=pd.DataFrame(), n_samples=1, chromosomes=[], seed=1
        )
    assert _left_in(tmp_path) == []


def test_other_write_errors_pass_unchanged(tmp_path):
    with pytest.raises(PermissionError), atomic_output(tmp_path / "x.tsv"):
        raise PermissionError(errno.EACCES, "Permission denied", "x.tsv")
    with pytest.raises(ValueError), atomic_output(tmp_path / "y.tsv"):
        raise ValueError("not an OSError")
    assert _left_in(tmp_path) == []
