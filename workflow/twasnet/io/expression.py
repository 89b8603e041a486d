"""Expression input: GTEx v8 / tensorQTL phenotype BED (bgzipped or plain text).

Layout: header `#chr start end gene_id <sample ...>`, one gene per line, 0-based BED start at the
TSS (so the 1-based TSS is start + 1), one normalised expression value per sample.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twasnet.errors import InputError
from twasnet.io.common import require_complete_bgzf
from twasnet.io.variants import canonical_chrom

EXPECTED_HEADER = ("#chr", "start", "end", "gene_id")
# tensorQTL names the fourth column phenotype_id; accepted as a synonym of gene_id.
_GENE_ID_NAMES = ("gene_id", "phenotype_id")
# What to do with a truncated or corrupt compressed expression file.
_RECOPY = (
    "Copy or download it again (compare its size or checksum with the source), or recompress "
    "it with `bgzip` (then `tabix -p bed` if an index is wanted)."
)
# What a decompressor raises on a cut or damaged gzip stream.
_DECOMPRESSION_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True)
class Expression:
    """Expression matrix and gene positions.

    genes: columns gene_id (str), chrom (canonical str), tss (int64, 1-based); file order,
        index 0..n_genes-1.
    values: (n_genes, n_samples) float64; index gene_id (same order as genes), columns sample ids.
    """

    genes: pd.DataFrame
    values: pd.DataFrame


def _open_text(path: str) -> io.TextIOBase:
    if not os.path.exists(path):
        raise InputError(f"Expression file {path!r} does not exist; check the config.")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _header(path: str) -> list[str]:
    try:
        with _open_text(path) as fh:
            line = fh.readline()
        require_complete_bgzf(path, what="Expression file", remedy=_RECOPY)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"Expression file {path!r} could not be read ({exc}).") from exc
    if not line.strip():
        raise InputError(
            f"Expression file {path!r} is empty; expected a header line "
            f"{' '.join(EXPECTED_HEADER)} <sample ids...>."
        )
    return line.rstrip("\r\n").split("\t")


def _check_header(path: str, fields: list[str]) -> None:
    found = [f.strip() for f in fields[:4]]
    norm = [f.lower() for f in found]
    ok = (
        len(found) == 4
        and norm[0].lstrip("#") == "chr"
        and norm[1] == "start"
        and norm[2] == "end"
        and norm[3] in _GENE_ID_NAMES
    )
    if not ok:
        raise InputError(
            f"Expression file {path!r} has a malformed header: expected the first four "
            f"tab-separated columns {' '.join(EXPECTED_HEADER)} followed by sample ids, found "
            f"{' '.join(repr(f) for f in found) or '(nothing)'}. Use a GTEx / tensorQTL "
            "phenotype BED file."
        )
    if len(fields) < 5:
        raise InputError(f"Expression file {path!r} has no sample columns after {' '.join(found)}.")
    samples = fields[4:]
    empty = [i + 5 for i, s in enumerate(samples) if not s.strip()]
    if empty:
        raise InputError(f"Expression file {path!r}: header column {empty[0]} has no sample id.")
    seen: set[str] = set()
    dups = []
    for s in samples:
        if s in seen and s not in dups:
            dups.append(s)
        seen.add(s)
    if dups:
        raise InputError(
            f"Expression file {path!r} has duplicate sample ids in its header: "
            f"{', '.join(dups[:5])}. Each sample must appear once."
        )


def read_expression_chromosomes(path: str) -> list[str]:
    """Canonical chromosome names present in the BED, in order of first appearance."""
    _check_header(path, _header(path))
    try:
        col = pd.read_csv(
            path,
            sep="\t",
            usecols=[0],
            dtype=str,
            compression=_compression(path),
            keep_default_na=False,
        )
    except _DECOMPRESSION_ERRORS as exc:
        raise _corrupt(path, exc) from exc
    return list(dict.fromkeys(canonical_chrom(c) for c in col.iloc[:, 0] if c != ""))


def _corrupt(path: str, exc: BaseException) -> InputError:
    return InputError(
        f"Expression file {path!r} is truncated or corrupt: decompressing it failed "
        f"({type(exc).__name__}: {exc}). {_RECOPY}"
    )


def _compression(path: str) -> str | None:
    with open(path, "rb") as fh:
        return "gzip" if fh.read(2) == b"\x1f\x8b" else None


def read_expression_bed(path: str) -> Expression:
    """Read a phenotype BED into gene positions and a (genes x samples) float64 matrix."""
    fields = _header(path)
    _check_header(path, fields)
    samples = fields[4:]
    raw = _read_table(path, fields, numeric=True)
    if raw is None:
        raw = _read_table(path, fields, numeric=False)
    line_no = np.arange(raw.shape[0]) + 2  # header is line 1
    blank = raw.isna().all(axis=1).to_numpy()
    if blank.any():
        raw = raw.loc[~blank].reset_index(drop=True)
        line_no = line_no[~blank]

    chrom = raw.iloc[:, 0].fillna("").astype(str).str.strip()
    start_txt = raw.iloc[:, 1].fillna("").astype(str).str.strip()
    gene_id = raw.iloc[:, 3].fillna("").astype(str).str.strip()
    for label, col in (("chromosome", chrom), ("gene id", gene_id)):
        bad = np.flatnonzero((col == "").to_numpy())
        if bad.size:
            raise InputError(f"Expression file {path!r}, line {line_no[bad[0]]}: empty {label}.")
    bad_start = np.flatnonzero(~start_txt.str.fullmatch(r"\d+").to_numpy(dtype=bool))
    if bad_start.size:
        i = bad_start[0]
        raise InputError(
            f"Expression file {path!r}, line {line_no[i]} (gene {gene_id.iloc[i]!r}): start "
            f"{start_txt.iloc[i]!r} is not a non-negative integer. The second column must be "
            "the 0-based TSS position."
        )
    dup = gene_id.duplicated(keep="first").to_numpy()
    if dup.any():
        i = np.flatnonzero(dup)[0]
        first = np.flatnonzero((gene_id == gene_id.iloc[i]).to_numpy())[0]
        raise InputError(
            f"Expression file {path!r}: gene id {gene_id.iloc[i]!r} appears twice (lines "
            f"{line_no[first]} and {line_no[i]}). Gene ids must be unique."
        )
    values = _numeric_values(path, raw.iloc[:, 4:], samples=samples, genes=gene_id, line_no=line_no)

    genes = pd.DataFrame(
        {
            "gene_id": pd.array(gene_id.to_numpy(), dtype=str),
            "chrom": pd.array([canonical_chrom(c) for c in chrom], dtype=str),
            "tss": start_txt.astype(np.int64).to_numpy() + 1,
        }
    )
    frame = pd.DataFrame(
        values,
        index=pd.Index(genes["gene_id"], name="gene_id"),
        columns=pd.Index(samples, dtype=str),
    )
    return Expression(genes=genes, values=frame)


def _read_table(path: str, fields: list[str], *, numeric: bool) -> pd.DataFrame | None:
    """Data lines (without the header). numeric=True: fast path that parses sample columns as
    numbers and returns None if anything is irregular; numeric=False: every cell as text."""
    n = len(fields)
    kw: dict = dict(
        sep="\t",
        header=None,
        skiprows=1,
        skip_blank_lines=False,
        compression=_compression(path),
    )
    if numeric:
        kw.update(dtype={0: str, 1: str, 2: str, 3: str}, keep_default_na=False, na_values=[])
    else:
        kw.update(dtype=str, keep_default_na=False, na_values=[""])
    try:
        raw = pd.read_csv(path, **kw)
    except pd.errors.EmptyDataError:
        return pd.DataFrame({i: pd.Series(dtype=str) for i in range(n)})
    except _DECOMPRESSION_ERRORS as exc:
        raise _corrupt(path, exc) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        if numeric:
            return None
        raise InputError(
            f"Expression file {path!r} is not a consistent tab-separated table ({exc}). "
            f"Every line needs {n} tab-separated columns like the header."
        ) from exc
    if raw.shape[1] != n:
        if numeric:
            return None
        raise InputError(
            f"Expression file {path!r}: the data lines have {raw.shape[1]} columns but the header "
            f"has {n}; every line needs one value per sample."
        )
    if numeric:
        vals = raw.iloc[:, 4:]
        if not all(
            pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
            for t in vals.dtypes
        ):
            return None
        if not np.isfinite(vals.to_numpy(dtype=np.float64)).all():
            return None
    return raw


def _numeric_values(
    path: str, cells: pd.DataFrame, *, samples: list[str], genes: pd.Series, line_no: np.ndarray
) -> np.ndarray:
    """(n_genes, n_samples) float64; InputError naming line, gene and sample of a bad cell."""
    if all(pd.api.types.is_numeric_dtype(t) for t in cells.dtypes):
        return cells.to_numpy(dtype=np.float64)
    values = np.empty(cells.shape, dtype=np.float64)
    for j in range(cells.shape[1]):
        col = cells.iloc[:, j]
        num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(num))
        if bad.size:
            i = bad[0]
            txt = col.iloc[i]
            if txt is None or pd.isna(txt) or str(txt).strip() == "":
                what = "is empty"
            else:
                what = f"is {txt!r}, not a finite number"
            raise InputError(
                f"Expression file {path!r}, line {line_no[i]}: the value for gene "
                f"{genes.iloc[i]!r}, sample {samples[j]!r} {what}. Expression must be complete "
                "and numeric; impute or drop the gene / sample before running twasnet."
            )
        values[:, j] = num
    return values
