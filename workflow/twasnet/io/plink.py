"""Genotype input: PLINK 1 (.bed/.bim/.fam, read with bed-reader) and PLINK 2 (.pgen/.pvar/.psam,
read with pgenlib); the text files are read with pandas.

The binary file is the one the config names; its two text files are found by replacing its
extension (``chr1.bed`` -> ``chr1.bim``, ``chr1.fam``). What comes back is what
:func:`twasnet.io.vcf.read_genotypes` returns for the same genotypes in VCF: ALT dosages of the
bi-allelic SNVs, the same filters (:func:`~twasnet.io.variants.filter_dosages`), samples in the
requested order, canonical chromosome names, ids "" where the file has none ("."), REF/ALT
upper-case. Allele conventions, as PLINK 2 reads them:

* .bim: A2 (column 6) is REF and A1 (column 5) is ALT; the dosage counts A1 (as PLINK 2's
  ``--make-bed`` writes a VCF's alleles). PLINK 1.9 without ``--keep-allele-order`` makes A1 the
  minor allele instead: dosages still count A1, and REF/ALT are then swapped where ALT is common.
* .pvar: REF and ALT as in VCF (comma-separated ALTs: a multi-allelic record, skipped); the
  dosage counts ALT. With ``dosage_field`` set, a .pgen's stored dosages are read (hard calls
  where it stores none), otherwise its hard calls; a .bed only has hard calls.

Chromosome names match with or without "chr", and PLINK 1.9's numeric codes 23/24/25/26 stand
for X/Y/XY/MT.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twasnet.errors import InputError
from twasnet.io.variants import GenotypeBlock, canonical_chrom, filter_dosages
from twasnet.io.vcf import (
    check_file_samples,
    check_request,
    region_bounds,
    variant_skip_reason,
)

# the text files beside each binary file, found by replacing its extension
SIBLINGS = {".bed": (".bim", ".fam"), ".pgen": (".pvar", ".psam")}
_MAKE = {".bed": "plink2 --make-bed", ".pgen": "plink2 --make-pgen"}
_FORMAT_NAME = {".bed": "PLINK 1", ".pgen": "PLINK 2"}
_PLINK_CODES = {"23": "X", "24": "Y", "25": "XY", "26": "MT"}
_VARIANT_COLUMNS = ["chrom", "pos", "variant_id", "ref", "alt"]
_BIM_COLUMNS = ["chrom", "variant_id", "cm", "pos", "alt", "ref"]  # A1 = ALT, A2 = REF
_PVAR_NAMES = {"#CHROM": "chrom", "POS": "pos", "ID": "variant_id", "REF": "ref", "ALT": "alt"}
_CONTIG = re.compile(r"^##contig=<.*?\bID=([^,>]+)")


def plink_kind(path: str) -> str | None:
    """The extension, ".bed" or ".pgen", when ``path`` names a PLINK 1 or 2 genotype file;
    None for any other name."""
    ext = os.path.splitext(str(path))[1].lower()
    return ext if ext in SIBLINGS else None


def sibling_paths(path: str) -> list[str]:
    """The two text files beside a .bed (.bim, .fam) or .pgen (.pvar, .psam), in that order."""
    kind = plink_kind(path)
    if kind is None:
        raise ValueError(f"{path!r} is not a .bed or .pgen file")
    stem = os.path.splitext(str(path))[0]
    return [stem + ext for ext in SIBLINGS[kind]]


def plink_chrom(name: str) -> str:
    """A chromosome name as twasnet compares it: canonical, PLINK codes 23-26 as X/Y/XY/MT."""
    name = canonical_chrom(name)
    return _PLINK_CODES.get(name, name)


def _require_files(path: str) -> tuple[str, str, str]:
    """The binary file and its two text files; InputError naming any that does not exist."""
    kind = plink_kind(path)
    if not os.path.isfile(path):
        raise InputError(
            f"Genotype file {path!r} does not exist; check the genotype path in the config."
        )
    text, samples = sibling_paths(path)
    for sibling in (text, samples):
        if not os.path.isfile(sibling):
            raise InputError(
                f"{_FORMAT_NAME[kind]} genotype file {path!r} needs {sibling!r} beside it, which "
                f"does not exist: a {kind} file's {' and '.join(SIBLINGS[kind])} must share its "
                "name (genotypes.path names the binary file; the others are found by replacing "
                f"its extension). Put the file there, or re-create all three "
                f"(e.g. `{_MAKE[kind]}`)."
            )
    return path, text, samples


def _stat_key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return path, st.st_mtime_ns, st.st_size


# --------------------------------------------------------------------------------------------
# text files
# --------------------------------------------------------------------------------------------


def _header_lines(path: str) -> tuple[int, str | None, list[str]]:
    """Leading "##" lines of a .pvar/.psam: their count, the line after them (None at the end of
    the file) and the contig ids they declare."""
    skip, contigs = 0, []
    with open(path) as handle:
        for line in handle:
            if not line.startswith("##"):
                return skip, line, contigs
            skip += 1
            match = _CONTIG.match(line)
            if match:
                contigs.append(match.group(1))
    return skip, None, contigs


def _read_text(path: str, **kw) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, **kw)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"Genotype file {path!r} could not be read as a table ({exc}).") from exc


def _columns(path: str, table: pd.DataFrame, wanted: Sequence[str], layout: str) -> pd.DataFrame:
    missing = [c for c in wanted if c not in table.columns]
    if missing and not table.empty:
        raise InputError(
            f"Genotype file {path!r} lacks the column(s) {', '.join(missing)}: it must be {layout}."
        )
    return table.reindex(columns=list(wanted)).fillna("")


def _variant_table(path: str, table: pd.DataFrame, layout: str) -> pd.DataFrame:
    """The variant columns of a .bim/.pvar: chrom, pos (int64), variant_id ("" for "."), ref,
    alt."""
    table = _columns(path, table, _VARIANT_COLUMNS, layout)
    pos = pd.to_numeric(table["pos"], errors="coerce")
    if pos.isna().any():
        row = int(np.flatnonzero(pos.isna().to_numpy())[0])
        raise InputError(
            f"Genotype file {path!r}: position {table['pos'].iloc[row]!r} of variant {row + 1} is "
            f"not a number; it must be {layout}."
        )
    ids = table["variant_id"].where(table["variant_id"] != ".", "")
    return table.assign(pos=pos.to_numpy(dtype=np.int64), variant_id=ids)


def read_bim(path: str) -> pd.DataFrame:
    """A .bim as one row per variant (file order): chrom, pos, variant_id, ref (A2), alt (A1)."""
    layout = "a PLINK .bim (6 whitespace-separated columns: chrom, id, cM, pos, A1, A2)"
    table = _read_text(path, sep=r"\s+", header=None)
    if not table.empty and table.shape[1] != len(_BIM_COLUMNS):
        raise InputError(
            f"Genotype file {path!r} has {table.shape[1]} columns; it must be {layout}."
        )
    table.columns = _BIM_COLUMNS[: table.shape[1]]
    return _variant_table(path, table, layout)


def read_pvar(path: str) -> tuple[pd.DataFrame, list[str]]:
    """A .pvar as one row per variant (file order): chrom, pos, variant_id, ref, alt (ALTs
    comma-separated as in the file), and the contigs its "##contig" lines declare. A .pvar
    without a "#CHROM" header line has the .bim layout (as PLINK 2 reads it)."""
    skip, first, contigs = _header_lines(path)
    if first is None or not first.startswith("#CHROM"):
        return read_bim(path), contigs
    table = _read_text(path, sep="\t", skiprows=skip, usecols=lambda c: c.strip() in _PVAR_NAMES)
    table.columns = [_PVAR_NAMES[c.strip()] for c in table.columns]
    layout = "a PLINK 2 .pvar (tab-separated, header #CHROM POS ID REF ALT ...)"
    return _variant_table(path, table, layout), contigs


def read_fam(path: str) -> list[str]:
    """The sample ids (IID, column 2) of a .fam, in file order."""
    table = _read_text(path, sep=r"\s+", header=None)
    if table.empty:
        return []
    if table.shape[1] < 2:
        raise InputError(
            f"Genotype file {path!r} has {table.shape[1]} column; it must be a PLINK .fam "
            "(FID IID father mother sex phenotype)."
        )
    return table.iloc[:, 1].tolist()


def read_psam(path: str) -> list[str]:
    """The sample ids (IID) of a .psam, in file order; one without a "#FID"/"#IID" header line
    has the .fam layout."""
    skip, first, _ = _header_lines(path)
    if first is None:
        return []
    if not first.startswith("#"):
        return read_fam(path)
    table = _read_text(path, sep=r"\s+", skiprows=skip)
    table.columns = [str(c).lstrip("#") for c in table.columns]
    if "IID" not in table.columns:
        raise InputError(
            f"Genotype file {path!r} has no IID column; a PLINK 2 .psam's header line starts "
            "with #IID or #FID IID."
        )
    return table["IID"].tolist()


@dataclass(frozen=True)
class _Variants:
    """A .bim/.pvar as arrays, one entry per variant in file order (m variants)."""

    names: np.ndarray  # (m,) chromosome as the file spells it
    chrom: np.ndarray  # (m,) the same as plink_chrom() compares it
    pos: np.ndarray  # (m,) int64
    ids: np.ndarray  # (m,) "" where the file has "."
    ref: np.ndarray  # (m,) upper case
    alt: np.ndarray  # (m,) upper case, ALTs comma-separated as in the file
    contigs: tuple[str, ...]  # declared by "##contig" lines, as spelled there


@functools.lru_cache(maxsize=2)
def _cached_variants(key: tuple[str, int, int], kind: str) -> _Variants:
    """The variants of a .bim/.pvar, read once per (path, mtime, size): a chromosome's cis
    windows are read one after another from the same file."""
    table, contigs = (read_bim(key[0]), []) if kind == ".bed" else read_pvar(key[0])
    names = table["chrom"].to_numpy(dtype=object)
    spelled = {c: plink_chrom(c) for c in dict.fromkeys(names.tolist())}
    return _Variants(
        names=names,
        chrom=np.array([spelled[c] for c in names], dtype=object),
        pos=table["pos"].to_numpy(dtype=np.int64),
        ids=table["variant_id"].to_numpy(dtype=object),
        ref=table["ref"].str.upper().to_numpy(dtype=object),
        alt=table["alt"].str.upper().to_numpy(dtype=object),
        contigs=tuple(contigs),
    )


def plink_samples(path: str) -> list[str]:
    """Sample ids of a PLINK 1 or 2 file set (from its .fam / .psam), in file order."""
    _, _, sample_file = _require_files(path)
    return list(_cached_samples(_stat_key(sample_file), plink_kind(path)))


@functools.lru_cache(maxsize=2)
def _cached_samples(key: tuple[str, int, int], kind: str) -> tuple[str, ...]:
    path = key[0]
    ids = read_fam(path) if kind == ".bed" else read_psam(path)
    return tuple(check_file_samples(path, ids, where=f"the {SIBLINGS[kind][1]} lists none"))


def plink_chromosomes(path: str) -> list[str]:
    """Chromosome names as the .bim/.pvar spells them, in order of first appearance."""
    _, variant_file, _ = _require_files(path)
    variants = _cached_variants(_stat_key(variant_file), plink_kind(path))
    return list(dict.fromkeys([*variants.contigs, *variants.names.tolist()]))


# --------------------------------------------------------------------------------------------
# genotype reading
# --------------------------------------------------------------------------------------------


def _region_rows(
    path: str, variant_file: str, chrom: str, start: int | None, end: int | None
) -> np.ndarray:
    """Row indexes (file order) of the variants on canonical ``chrom`` within [start, end];
    InputError when the file has no such chromosome (and no "##contig" line for it)."""
    variants = _cached_variants(_stat_key(variant_file), plink_kind(path))
    want = plink_chrom(chrom)
    on_chrom = variants.chrom == want
    if not on_chrom.any() and not any(plink_chrom(c) == want for c in variants.contigs):
        have = list(dict.fromkeys(variants.names.tolist())) or list(variants.contigs)
        shown = ", ".join(have[:10]) + (" ..." if len(have) > 10 else "")
        raise InputError(
            f"Genotype file {path!r} has no chromosome {chrom!r} (looked for {want!r} and "
            f"'chr{want}' in {variant_file!r}); its chromosomes are: {shown or '(none)'}. Check "
            "the genotype path pattern and that this file holds the chromosome of the genes "
            "being modelled."
        )
    lo, hi = region_bounds(start, end)
    return np.flatnonzero(on_chrom & (variants.pos >= lo) & (variants.pos <= hi))


def _snv_rows(variants: _Variants, rows: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """The bi-allelic SNVs among ``rows``, sorted by position (stable), and the skip counts."""
    skipped = {"multiallelic": 0, "non_snv": 0}
    keep = []
    for row, ref, alt in zip(rows, variants.ref[rows], variants.alt[rows], strict=True):
        alts = [] if alt in ("", ".", "0") else str(alt).split(",")
        reason = variant_skip_reason(ref, alts)
        if reason is None:
            keep.append(row)
        else:
            skipped[reason] += 1
    keep = np.asarray(keep, dtype=np.intp)
    order = np.argsort(variants.pos[keep], kind="stable")
    return keep[order], skipped


def _bed_dosages(
    path: str, n_samples: int, n_variants: int, columns: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """(len(rows), len(columns)) float32 A1 counts from a .bed (NaN where missing)."""
    from bed_reader import open_bed

    expected = 3 + n_variants * -(-n_samples // 4)
    size = os.path.getsize(path)
    if size != expected:
        bim, fam = sibling_paths(path)
        raise InputError(
            f"PLINK 1 genotype file {path!r} has {size:,} bytes, but {bim!r} lists {n_variants:,} "
            f"variants and {fam!r} {n_samples:,} samples ({expected:,} bytes expected): the three "
            "files do not belong together, or the .bed is truncated or sample-major. Re-create "
            "them together (e.g. `plink2 --make-bed`)."
        )
    try:
        with open_bed(path, iid_count=n_samples, sid_count=n_variants, num_threads=1) as bed:
            if rows.size == 0:
                return np.empty((0, columns.size), dtype=np.float32)
            values = bed.read(index=np.s_[columns, rows], dtype="float32", order="C")
    except ValueError as exc:  # bed-reader: a bad magic number or mode byte
        raise InputError(
            f"Genotype file {path!r} could not be read as a PLINK 1 .bed ({exc}). It must be a "
            "SNP-major .bed written by PLINK (or bed-reader)."
        ) from exc
    return np.ascontiguousarray(values.T)


@functools.lru_cache(maxsize=2)
def _allele_offsets(key: tuple[str, int, int]) -> np.ndarray | None:
    """pgenlib's allele_idx_offsets for the .pvar of ``key`` (variant_ct + 1 entries, np.uintp)
    when some variant has more than two alleles, else None: the .pgen cannot be decoded
    without them then."""
    alts = _cached_variants(key, ".pgen").alt
    n_alleles = np.array([a.count(",") for a in alts], dtype=np.int64) + 2  # "." and "G": 2
    if not (n_alleles > 2).any():
        return None
    return np.concatenate([[0], np.cumsum(n_alleles)]).astype(np.uintp)


def _pgen_dosages(
    path: str,
    variant_key: tuple[str, int, int],
    n_samples: int,
    columns: np.ndarray,
    rows: np.ndarray,
    *,
    stored_dosages: bool,
) -> np.ndarray:
    """(len(rows), len(columns)) float32 ALT dosages from a .pgen (NaN where missing): its hard
    calls, or with ``stored_dosages`` its dosages (hard calls where it stores none)."""
    import pgenlib

    n_variants = _cached_variants(variant_key, ".pgen").pos.size
    subset = np.unique(columns)  # pgenlib reads a strictly increasing sample subset
    try:
        reader = pgenlib.PgenReader(
            os.fsencode(path),
            raw_sample_ct=n_samples,
            variant_ct=n_variants,
            sample_subset=subset.astype(np.uint32),
            allele_idx_offsets=_allele_offsets(variant_key),
        )
    except RuntimeError as exc:
        pvar, psam = sibling_paths(path)
        reason = exc.args[0].decode(errors="replace") if exc.args else str(exc)
        raise InputError(
            f"PLINK 2 genotype file {path!r} does not match {pvar!r} ({n_variants:,} variants) "
            f"and {psam!r} ({n_samples:,} samples): pgenlib says {reason.strip()!r}. The three "
            "files must be written together (e.g. `plink2 --make-pgen`); re-create them."
        ) from exc
    try:
        in_file_order = np.sort(rows).astype(np.uint32)
        buf = np.empty((rows.size, subset.size), np.float32 if stored_dosages else np.int8)
        if rows.size and stored_dosages:
            reader.read_dosages_list(in_file_order, buf)
        elif rows.size:
            reader.read_list(in_file_order, buf)
    finally:
        reader.close()
    values = np.where(buf < 0, np.nan, buf).astype(np.float32)  # -9: missing
    back = np.searchsorted(in_file_order, rows)
    return values[np.ix_(back, np.searchsorted(subset, columns))]


def read_plink_genotypes(
    path: str,
    *,
    chrom: str,
    samples: Sequence[str],
    start: int | None = None,
    end: int | None = None,
    dosage_field: str | None = None,
    maf_min: float = 0.01,
    missing_rate_max: float = 0.1,
    hwe_p_min: float | None = None,
) -> GenotypeBlock:
    """Read ALT dosages of the bi-allelic SNVs on canonical `chrom` (within [start, end] when
    given) from a .bed or .pgen and its text files; the arguments and the result are those of
    :func:`twasnet.io.vcf.read_genotypes`: (n_variants, len(samples)) float32 dosages, filtered
    and mean-imputed alike. `dosage_field` (any name): read a .pgen's stored dosages."""
    kind = plink_kind(path)
    file_samples = plink_samples(path)
    samples = check_request(
        path, samples=samples, file_samples=file_samples, chrom=chrom, start=start, end=end
    )
    _, variant_file, _ = _require_files(path)
    key = _stat_key(variant_file)
    variants = _cached_variants(key, kind)
    rows, skipped = _snv_rows(variants, _region_rows(path, variant_file, chrom, start, end))
    where = {s: i for i, s in enumerate(file_samples)}
    columns = np.array([where[s] for s in samples], dtype=np.intp)
    if kind == ".bed":
        dos = _bed_dosages(path, len(file_samples), variants.pos.size, columns, rows)
    else:
        stored = dosage_field is not None
        dos = _pgen_dosages(path, key, len(file_samples), columns, rows, stored_dosages=stored)
    return filter_dosages(
        dos,
        pos=variants.pos[rows],
        ids=variants.ids[rows].tolist(),
        refs=variants.ref[rows].tolist(),
        alts=variants.alt[rows].tolist(),
        skipped=skipped,
        chrom=chrom,
        samples=samples,
        maf_min=maf_min,
        missing_rate_max=missing_rate_max,
        hwe_p_min=hwe_p_min,
    )
