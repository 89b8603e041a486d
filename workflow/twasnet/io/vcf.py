"""Genotype input: indexed VCF / BCF files read with cyvcf2.

Dosages are ALT-allele counts in [0, 2], one row per bi-allelic SNV, one column per requested
sample. Chromosome names are canonical (no leading "chr") in everything this module returns. The
block returned and the per-variant filters applied are those of every format
(:mod:`twasnet.io.variants`).
"""

from __future__ import annotations

import gzip
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import cyvcf2
import numpy as np

from twasnet.errors import InputError
from twasnet.io.common import duplicated_ids, require_complete_bgzf
from twasnet.io.variants import GenotypeBlock, canonical_chrom, filter_dosages

_BASES = frozenset("ACGT")
_MAX_POS = 2**31 - 2  # htslib regions are int32-safe up to this
# DS values a little outside [0, 2] are rounding noise and are clipped; beyond this they are errors.
_DOSAGE_TOLERANCE = 0.01


def genotype_path(pattern: str, chrom: str) -> str:
    """`pattern` with "{chrom}" replaced by the canonical chromosome name (if present)."""
    if "{chrom}" not in pattern:
        return pattern
    return pattern.replace("{chrom}", canonical_chrom(chrom))


# --------------------------------------------------------------------------------------------
# opening and header checks
# --------------------------------------------------------------------------------------------


def _header_sample_ids(path: str) -> list[str] | None:
    """Sample ids from the #CHROM line, read without htslib (diagnostics only).

    Works for bgzipped or plain VCF and for BCF (whose header text sits inside the BGZF stream).
    """
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        buf = b""
        with opener(path, "rb") as fh:
            while True:
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                start = buf.find(b"#CHROM")
                if start >= 0:
                    end = buf.find(b"\n", start)
                    if end >= 0 or len(buf) > (1 << 26):
                        line = buf[start : end if end >= 0 else None]
                        fields = line.decode(errors="replace").rstrip("\r\x00").split("\t")
                        return fields[9:]
                if len(buf) > (1 << 26):
                    return None
    except (OSError, EOFError):
        return None
    return None


def _open(path: str, *, samples: Sequence[str] | None = None, gts012: bool = True) -> cyvcf2.VCF:
    if not os.path.exists(path):
        raise InputError(
            f"Genotype file {path!r} does not exist; check the genotype path in the config."
        )
    if not os.path.isfile(path):
        raise InputError(f"Genotype file {path!r} is not a regular file.")
    _require_complete(path)
    try:
        if samples is None:
            return cyvcf2.VCF(path, gts012=gts012, lazy=True, threads=1)
        return cyvcf2.VCF(path, gts012=gts012, lazy=True, threads=1, samples=list(samples))
    except Exception as exc:  # cyvcf2 raises bare Exception / OSError for bad headers
        ids = _header_sample_ids(path)
        if ids:
            dups = duplicated_ids(ids)
            if dups:
                raise InputError(
                    f"Genotype file {path!r} has duplicate sample ids: {', '.join(dups[:5])}"
                    f"{' ...' if len(dups) > 5 else ''}. Rename or remove the duplicated samples "
                    "(e.g. with `bcftools reheader` / `bcftools view -s`)."
                ) from exc
        raise InputError(
            f"Genotype file {path!r} could not be read as VCF/BCF ({exc}). It must be a "
            "bgzipped VCF (.vcf.gz) or a BCF file with a valid header."
        ) from exc


def vcf_samples(path: str) -> list[str]:
    """Sample ids of a VCF/BCF file, in file order."""
    vcf = _open(path)
    try:
        ids = list(vcf.samples)
    finally:
        vcf.close()
    return check_file_samples(path, ids, where="no genotype columns after FORMAT")


def check_file_samples(path: str, ids: Sequence[str], *, where: str) -> list[str]:
    """``ids`` (a genotype file's samples, file order) as strings; InputError when there are none
    (``where`` says where they were looked for) or some occur twice."""
    ids = [str(s) for s in ids]
    if not ids:
        raise InputError(
            f"Genotype file {path!r} has no samples ({where}); twasnet needs per-sample genotypes."
        )
    dups = duplicated_ids(ids)
    if dups:
        raise InputError(
            f"Genotype file {path!r} has duplicate sample ids: {', '.join(dups[:5])}. "
            "Rename or remove the duplicated samples."
        )
    return ids


def index_path(path: str) -> str | None:
    """The genotype file's index (``.csi`` preferred, else ``.tbi``), or None when it has none."""
    for suffix in (".csi", ".tbi"):
        if os.path.exists(path + suffix):
            return path + suffix
    return None


def _reindex_command(path: str) -> str:
    if path.endswith(".bcf"):
        return f"`bcftools index -f {path}`"
    return f"`tabix -f -p vcf {path}` (or `bcftools index -f {path}`)"


def _require_index(path: str) -> None:
    """InputError unless ``path`` has an index at least as new as the file itself (an index older
    than the file was made for other content: region queries then miss or misplace records)."""
    index = index_path(path)
    if index is None:
        is_bcf = path.endswith(".bcf")
        how = (
            f"`bcftools index {path}`"
            if is_bcf
            else f"`tabix -p vcf {path}` (or `bcftools index {path}`)"
        )
        raise InputError(
            f"Genotype file {path!r} has no index ({path}.tbi or {path}.csi not found). "
            f"Create one with {how}; the file must be bgzip-compressed and sorted."
        )
    if os.stat(index).st_mtime_ns < os.stat(path).st_mtime_ns:
        raise InputError(
            f"Genotype file {path!r} is newer than its index {index!r}: the file was rewritten "
            "after it was indexed, so region queries would read the wrong records. Re-index it "
            f"with {_reindex_command(path)}."
        )


# The empty BGZF block that ends every complete bgzip (and BCF) file (SAM/BAM spec, 4.1.2).
def _require_complete(path: str) -> None:
    """InputError if a BGZF-compressed ``path`` is truncated (an interrupted copy or download):
    htslib would stop early without an error. Not BGZF (plain text, not a genotype file): _open
    judges it."""
    require_complete_bgzf(
        path,
        what="Genotype file",
        remedy="Copy or download it again (compare its size or checksum with the source), or "
        f"recompress it with `bgzip`, then re-index it with {_reindex_command(path)}.",
    )


def _resolve_contig(path: str, vcf: cyvcf2.VCF, chrom: str) -> str | None:
    """The file's own spelling of canonical `chrom`; None if the header knows it but has no data.

    Raises InputError when neither spelling occurs in the index or header.
    """
    want = canonical_chrom(chrom)
    indexed = [str(c) for c in vcf.seqnames]
    for c in indexed:
        if canonical_chrom(c) == want:
            return c
    header_contigs: list[str] = []
    for rec in vcf.header_iter():
        info = rec.info()
        if info.get("HeaderType") == "CONTIG" and "ID" in info:
            header_contigs.append(info["ID"])
    if any(canonical_chrom(c) == want for c in header_contigs):
        return None
    have = indexed or header_contigs
    shown = ", ".join(have[:10]) + (" ..." if len(have) > 10 else "")
    raise InputError(
        f"Genotype file {path!r} has no chromosome {chrom!r} (looked for {want!r} and "
        f"'chr{want}'); its contigs are: {shown or '(none)'}. Check the genotype path pattern and "
        "that this file holds the chromosome of the genes being modelled."
    )


# --------------------------------------------------------------------------------------------
# genotype reading
# --------------------------------------------------------------------------------------------


def _has_format_field(vcf: cyvcf2.VCF, field: str) -> bool:
    for rec in vcf.header_iter():
        if rec.type == "FORMAT" and rec.info().get("ID") == field:
            return True
    return False


_GT_LUT = np.array([0.0, 1.0, 2.0, np.nan], dtype=np.float32)  # gts012 codes -> ALT count


def variant_skip_reason(ref: str, alts: Sequence[str]) -> str | None:
    """Why a record is not read: "multiallelic" unless it has exactly one ALT allele (none, as
    for ALT ".", counts here too), "non_snv" unless REF and ALT are single bases (A/C/G/T, any
    case); None for a bi-allelic SNV. The one rule for every genotype format."""
    if len(alts) != 1:
        return "multiallelic"
    ref, alt = str(ref).upper(), str(alts[0]).upper()
    if len(ref) != 1 or len(alt) != 1 or ref not in _BASES or alt not in _BASES:
        return "non_snv"
    return None


@dataclass
class _Scan:
    """Raw rows of the bi-allelic SNVs in a region, before any per-variant filter."""

    rows: list[np.ndarray] = field(default_factory=list)  # int8 GT codes or float32 dosages
    is_ds: list[bool] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    alts: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: {"multiallelic": 0, "non_snv": 0})


def _scan(records, *, lo: int, hi: int, dosage_field: str | None) -> _Scan:
    """Walk cyvcf2 records: skip/count multi-allelic and non-SNV records, collect sample rows.

    With `dosage_field`, a record's row is its dosage (missing values filled from GT where
    called); records without the field fall back to GT codes (gts012, 3 = missing).
    """
    out = _Scan()
    for rec in records:
        pos = rec.POS
        if pos < lo or pos > hi:  # region queries also return records overlapping the start
            continue
        reason = variant_skip_reason(rec.REF, rec.ALT)
        if reason is not None:
            out.skipped[reason] += 1
            continue
        ref, a = rec.REF.upper(), rec.ALT[0].upper()
        row = None
        if dosage_field is not None:
            ds = rec.format(dosage_field)
            if ds is not None:
                row = np.array(ds[:, 0], dtype=np.float32)
                gaps = np.isnan(row)
                if gaps.any():
                    row[gaps] = _GT_LUT[rec.gt_types[gaps]]
        if row is None:
            # copy: cyvcf2 returns a view into the record's buffer
            out.rows.append(np.array(rec.gt_types, dtype=np.int8))
            out.is_ds.append(False)
        else:
            out.rows.append(row)
            out.is_ds.append(True)
        out.pos.append(pos)
        vid = rec.ID
        out.ids.append("" if vid is None or vid == "." else str(vid))
        out.refs.append(ref)
        out.alts.append(a)
    return out


def check_request(
    path: str,
    *,
    samples: Sequence[str],
    file_samples: Sequence[str],
    chrom: str,
    start: int | None,
    end: int | None,
) -> list[str]:
    """The requested ``samples`` as strings; InputError when none are requested, some twice or
    some not in the file's ``file_samples``, or when the region ends before it starts."""
    samples = [str(s) for s in samples]
    if not samples:
        raise InputError(f"No samples requested from genotype file {path!r}.")
    dups = duplicated_ids(samples)
    if dups:
        raise InputError(
            f"Requested samples for {path!r} contain duplicates: {', '.join(dups[:5])}."
        )
    if start is not None and end is not None and end < start:
        raise InputError(f"Region {chrom}:{start}-{end} for {path!r} has end < start.")
    file_set = set(file_samples)
    missing = [s for s in samples if s not in file_set]
    if missing:
        raise InputError(
            f"Genotype file {path!r} lacks {len(missing)} of the {len(samples)} requested samples "
            f"(first: {', '.join(missing[:5])}). Check that sample ids match between the genotype, "
            "expression and covariate files, or intersect the samples first."
        )
    return samples


def region_bounds(start: int | None, end: int | None) -> tuple[int, int]:
    """The inclusive 1-based [lo, hi] read for a region (open ends: the whole chromosome)."""
    lo = 1 if start is None else max(1, int(start))
    hi = _MAX_POS if end is None else min(_MAX_POS, int(end))
    return lo, hi


def read_genotypes(
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
    """Read ALT dosages of bi-allelic SNVs on `chrom` (canonical), optionally within [start, end].

    Dosage comes from FORMAT `dosage_field` (e.g. "DS") when given and declared in the header,
    otherwise from GT as the ALT-allele count (haploid calls count as 0 or 2). Filters, in order:
    multi-allelic, non-SNV, missing rate > `missing_rate_max`, MAF < `maf_min`, and, when
    `hwe_p_min` is set, HWE exact p < `hwe_p_min` (on hard calls; for DS, rounded dosages).
    Missing values of kept variants are replaced by the variant's mean dosage.
    Returns a GenotypeBlock with (n_variants, len(samples)) float32 dosages.
    """
    samples = check_request(
        path, samples=samples, file_samples=vcf_samples(path), chrom=chrom, start=start, end=end
    )
    _require_index(path)
    vcf = _open(path, samples=samples)
    try:
        contig = _resolve_contig(path, vcf, chrom)
        # cyvcf2 returns the subset in file order; map to the requested order
        pos_in_file = {s: i for i, s in enumerate(vcf.samples)}
        col_order = np.array([pos_in_file[s] for s in samples], dtype=np.intp)
        use_ds = dosage_field is not None and _has_format_field(vcf, dosage_field)
        lo, hi = region_bounds(start, end)
        scan = _Scan()
        if contig is not None:
            with warnings.catch_warnings():  # a contig known to the header but without records
                warnings.filterwarnings("ignore", message="no intervals found")
                scan = _scan(
                    vcf(f"{contig}:{lo}-{hi}"),
                    lo=lo,
                    hi=hi,
                    dosage_field=dosage_field if use_ds else None,
                )
    finally:
        vcf.close()
    dos = _scan_dosages(path, scan, col_order, chrom=chrom, samples=samples, field=dosage_field)
    return filter_dosages(
        dos,
        pos=scan.pos,
        ids=scan.ids,
        refs=scan.refs,
        alts=scan.alts,
        skipped=scan.skipped,
        chrom=chrom,
        samples=samples,
        maf_min=maf_min,
        missing_rate_max=missing_rate_max,
        hwe_p_min=hwe_p_min,
    )


def _scan_dosages(
    path: str,
    scan: _Scan,
    col_order: np.ndarray,
    *,
    chrom: str,
    samples: list[str],
    field: str | None,
) -> np.ndarray:
    """The scanned rows as one (n_variants, n_samples) float32 matrix in the requested sample
    order (NaN where missing); InputError for a dosage outside [0, 2] beyond rounding noise."""
    rows, is_ds = scan.rows, np.array(scan.is_ds, dtype=bool)
    dos = np.empty((len(rows), len(samples)), dtype=np.float32)
    if not rows:
        return dos
    gt_idx, ds_idx = np.flatnonzero(~is_ds), np.flatnonzero(is_ds)
    if gt_idx.size:
        codes = np.stack([rows[i] for i in gt_idx])[:, col_order]
        dos[gt_idx] = _GT_LUT[np.clip(codes, 0, 3)]
    if ds_idx.size:
        vals = np.stack([rows[i] for i in ds_idx])[:, col_order]
        bad = np.isfinite(vals) & ((vals < -_DOSAGE_TOLERANCE) | (vals > 2 + _DOSAGE_TOLERANCE))
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise InputError(
                f"Genotype file {path!r}: {field} = {vals[r, c]} at "
                f"{chrom}:{scan.pos[ds_idx[r]]} for sample {samples[c]!r} is outside [0, 2]. "
                f"{field} must be the expected ALT-allele count; set dosage_field to "
                "null to use GT instead."
            )
        dos[ds_idx] = np.clip(vals, 0.0, 2.0)
    return dos
