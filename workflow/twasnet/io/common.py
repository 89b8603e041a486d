"""Small checks shared by the readers."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from twasnet.errors import InputError

# The empty BGZF block that ends every complete bgzip (and BCF) file (SAM/BAM spec, 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def duplicated_ids(ids: Sequence[str]) -> list[str]:
    """Ids that occur more than once, each listed once, in order of first repetition."""
    index = pd.Index(list(ids))
    return index[index.duplicated()].unique().tolist()


def require_complete_bgzf(path: str, *, what: str, remedy: str) -> None:
    """InputError if the BGZF-compressed ``path`` (``what``: e.g. "Expression file") lacks the
    end-of-file block: it is truncated, and a reader would stop early, either with a bare
    EOFError or, cut at a block boundary, silently. Files that are not BGZF pass."""
    with open(path, "rb") as handle:
        head = handle.read(18)
        if not (head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"):
            return
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - len(BGZF_EOF)))
        tail = handle.read()
    if tail != BGZF_EOF:
        raise InputError(
            f"{what} {path!r} is truncated: it does not end with the BGZF end-of-file block "
            f"({size:,} bytes), so the lines at its end are missing. {remedy}"
        )
