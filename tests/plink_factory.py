"""Write PLINK 1 (.bed/.bim/.fam, with bed-reader) and PLINK 2 (.pgen/.pvar/.psam, with pgenlib)
copies of a VCF's genotypes for tests, as PLINK 2's --make-bed / --make-pgen would."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import cyvcf2
import numpy as np


@dataclass
class Calls:
    """A VCF's records: alleles (n_records, n_samples, 2) int32 allele indexes, -9 missing."""

    samples: list[str]
    chrom: list[str]
    pos: list[int]
    ids: list[str]
    ref: list[str]
    alts: list[list[str]]
    alleles: np.ndarray
    ds: np.ndarray | None = None  # (n_records, n_samples) float32 DS, NaN missing


def read_calls(vcf_path: str, *, ds: bool = False) -> Calls:
    """Every record of ``vcf_path`` (diploid GT; with ``ds``, the DS field too)."""
    vcf = cyvcf2.VCF(vcf_path)
    calls = Calls(list(vcf.samples), [], [], [], [], [], np.zeros(0))
    rows, dosages = [], []
    for rec in vcf:
        calls.chrom.append(rec.CHROM)
        calls.pos.append(rec.POS)
        calls.ids.append(rec.ID or ".")
        calls.ref.append(rec.REF)
        calls.alts.append(list(rec.ALT))
        gt = np.array([g[:2] for g in rec.genotypes], dtype=np.int32)
        rows.append(np.where(gt < 0, -9, gt))
        if ds:
            dosages.append(np.asarray(rec.format("DS")[:, 0], dtype=np.float32))
    vcf.close()
    calls.alleles = np.stack(rows) if rows else np.zeros((0, len(calls.samples), 2), np.int32)
    calls.ds = np.stack(dosages) if ds and dosages else None
    return calls


def alt_counts(alleles: np.ndarray) -> np.ndarray:
    """(n_records, n_samples) float ALT-allele counts of bi-allelic records, NaN missing."""
    counts = (alleles == 1).sum(axis=2).astype(float)
    counts[(alleles < 0).any(axis=2)] = np.nan
    return counts


def write_plink1(
    bed_path: str | os.PathLike,
    calls: Calls,
    *,
    chrom: Callable[[str], str] = str,
) -> str:
    """The bi-allelic records of ``calls`` as .bed/.bim/.fam (A1 = ALT, A2 = REF; a .bed cannot
    hold the multi-allelic ones); ``chrom`` renames the chromosomes."""
    from bed_reader import to_bed

    keep = [i for i, alts in enumerate(calls.alts) if len(alts) == 1]
    properties = {
        "fid": ["0"] * len(calls.samples),
        "iid": calls.samples,
        "chromosome": [chrom(calls.chrom[i]) for i in keep],
        "sid": [calls.ids[i] for i in keep],
        "bp_position": [calls.pos[i] for i in keep],
        "allele_1": [calls.alts[i][0] for i in keep],
        "allele_2": [calls.ref[i] for i in keep],
    }
    values = alt_counts(calls.alleles[keep]).T  # (samples, variants)
    to_bed(str(bed_path), values, properties=properties, count_A1=True, num_threads=1)
    return str(bed_path)


def write_plink2(
    pgen_path: str | os.PathLike,
    calls: Calls,
    *,
    chrom: Callable[[str], str] = str,
    psam_header: str = "#IID",
    dosages: bool = False,
) -> str:
    """Every record of ``calls`` as .pgen/.pvar/.psam (multi-allelic ones included); with
    ``dosages``, each record's DS as its stored dosage instead of its hard calls. ``psam_header``:
    the .psam's header line ("#IID" or "#FID\tIID"), or "" for none (the .fam layout)."""
    import pgenlib

    stem = os.path.splitext(str(pgen_path))[0]
    n_alleles = [1 + len(a) for a in calls.alts]
    writer = pgenlib.PgenWriter(
        os.fsencode(str(pgen_path)),
        len(calls.samples),
        variant_ct=len(calls.pos),
        nonref_flags=False,
        allele_ct_limit=max([2, *n_alleles]),
        dosage_present=dosages,
    )
    for i, alleles in enumerate(calls.alleles):
        if dosages:
            writer.append_dosages(np.nan_to_num(calls.ds[i], nan=-9.0).astype(np.float32))
        else:
            flat = np.ascontiguousarray(alleles.reshape(-1), dtype=np.int32)
            writer.append_alleles(flat, allele_ct=max(2, n_alleles[i]))
    writer.close()
    with open(stem + ".pvar", "w") as handle:
        handle.write("##fileformat=PVARv1.0\n#CHROM\tPOS\tID\tREF\tALT\n")
        for i in range(len(calls.pos)):
            alt = ",".join(calls.alts[i]) or "."
            handle.write(f"{chrom(calls.chrom[i])}\t{calls.pos[i]}\t{calls.ids[i]}\t")
            handle.write(f"{calls.ref[i]}\t{alt}\n")
    with open(stem + ".psam", "w") as handle:  # psam_header "": the .fam layout, no header
        handle.write(psam_header + "\n" if psam_header else "")
        for sample in calls.samples:
            if not psam_header:
                handle.write(f"0 {sample} 0 0 0 -9\n")
            else:
                handle.write(("0\t" if psam_header.startswith("#FID") else "") + sample + "\n")
    return str(pgen_path)


def no_chr(name: str) -> str:
    """``chr1`` -> ``1`` (as PLINK 1.9 writes chromosome codes)."""
    return name[3:] if name.lower().startswith("chr") else name
