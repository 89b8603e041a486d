"""Write tiny bgzipped + indexed VCF / BCF files for tests (pysam does bgzip, tabix and BCF)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pysam
from pysam import bcftools


@dataclass(frozen=True)
class Record:
    """One VCF record; `gt` holds one GT string per sample ("0/1", "1|1", "./.", "0")."""

    chrom: str
    pos: int
    ref: str
    alt: str  # comma-separated for multi-allelic records
    gt: Sequence[str]
    ds: Sequence[float | None] | None = None  # per-sample DS; None entries are written as "."
    id: str = "."


def vcf_text(
    samples: Sequence[str], records: Sequence[Record], *, contigs: Sequence[str] = ()
) -> str:
    """The VCF as text (header + records); contig lines for `contigs` and every record chrom."""
    has_ds = any(r.ds is not None for r in records)
    seen: list[str] = list(dict.fromkeys([*contigs, *(r.chrom for r in records)]))
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={c},length=250000000>" for c in seen]
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    if has_ds:
        lines.append('##FORMAT=<ID=DS,Number=1,Type=Float,Description="ALT dosage">')
    lines.append(
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
            + list(samples)
        )
    )
    for r in records:
        if len(r.gt) != len(samples):
            raise ValueError(f"record at {r.chrom}:{r.pos} has {len(r.gt)} genotypes")
        if r.ds is not None:
            cells = [
                f"{g}:{'.' if d is None else format(d, 'g')}"
                for g, d in zip(r.gt, r.ds, strict=True)
            ]
            fmt = "GT:DS"
        elif has_ds:
            cells = [f"{g}:." for g in r.gt]
            fmt = "GT:DS"
        else:
            cells, fmt = list(r.gt), "GT"
        lines.append(
            "\t".join([r.chrom, str(r.pos), r.id, r.ref, r.alt, ".", "PASS", ".", fmt] + cells)
        )
    return "\n".join(lines) + "\n"


def write_vcf(
    path: str | os.PathLike,
    samples: Sequence[str],
    records: Sequence[Record],
    *,
    contigs: Sequence[str] = (),
    kind: str = "vcf.gz",
    index: bool = True,
) -> str:
    """Write `records` to `path` and return the path (str).

    kind: "vcf.gz" (bgzip + .tbi), "vcf.gz-csi" (bgzip + .csi), "bcf" (BCF + .csi) or "vcf"
    (plain text, never indexed). Records must be sorted by chrom and pos.
    """
    path = str(path)
    text = vcf_text(samples, records, contigs=contigs)
    if kind == "vcf":
        with open(path, "w") as fh:
            fh.write(text)
        return path
    plain = path + ".tmp.vcf"
    with open(plain, "w") as fh:
        fh.write(text)
    gz = path if kind != "bcf" else path + ".tmp.vcf.gz"
    pysam.tabix_compress(plain, gz, force=True)
    os.remove(plain)
    if kind == "bcf":
        with pysam.VariantFile(gz) as src, pysam.VariantFile(path, "wb", header=src.header) as dst:
            for rec in src:
                dst.write(rec)
        os.remove(gz)
        if index:
            bcftools.index(path)
    elif index:
        pysam.tabix_index(path, preset="vcf", force=True, csi=(kind == "vcf.gz-csi"))
    return path


def random_records(
    rng: np.random.Generator,
    *,
    chrom: str,
    n_variants: int,
    n_samples: int,
    first_pos: int = 1000,
    spacing: int = 10,
    missing: float = 0.0,
) -> tuple[list[Record], np.ndarray]:
    """Bi-allelic SNVs with random GTs; returns records and the true (n_variants, n_samples)
    ALT counts as float (NaN where the call was written missing)."""
    af = rng.uniform(0.05, 0.5, size=n_variants)
    counts = rng.binomial(2, af[:, None], size=(n_variants, n_samples)).astype(float)
    if missing:
        counts[rng.random(counts.shape) < missing] = np.nan
    code = {0.0: "0/0", 1.0: "0/1", 2.0: "1/1"}
    records = [
        Record(
            chrom=chrom,
            pos=first_pos + i * spacing,
            ref="A",
            alt="G",
            gt=["./." if np.isnan(c) else code[c] for c in counts[i]],
            id=f"rs{i}",
        )
        for i in range(n_variants)
    ]
    return records, counts
