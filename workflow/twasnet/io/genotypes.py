"""Genotype input in any supported format, chosen by the file's extension: ``.bed`` (PLINK 1,
with .bim and .fam beside it), ``.pgen`` (PLINK 2, with .pvar and .psam), anything else VCF / BCF
(bgzipped, indexed). Every format gives the same :class:`~twasnet.io.variants.GenotypeBlock` for
the same genotypes (see :mod:`twasnet.io.vcf` and :mod:`twasnet.io.plink`)."""

from __future__ import annotations

from collections.abc import Sequence

from twasnet.io import plink, vcf
from twasnet.io.variants import GenotypeBlock, canonical_chrom
from twasnet.io.vcf import genotype_path

__all__ = [
    "GenotypeBlock",
    "canonical_chrom",
    "genotype_format",
    "genotype_index",
    "genotype_path",
    "genotype_samples",
    "read_genotypes",
    "sample_file",
    "sibling_files",
]


def genotype_format(path: str) -> str:
    """The format of ``path`` by its extension: "plink1" (.bed), "plink2" (.pgen) or "vcf" (any
    other name: VCF or BCF)."""
    return {".bed": "plink1", ".pgen": "plink2"}.get(plink.plink_kind(path) or "", "vcf")


def sibling_files(path: str) -> list[str]:
    """The files read with ``path`` besides it: a .bed's .bim and .fam, a .pgen's .pvar and
    .psam; none for VCF / BCF (their index is :func:`genotype_index`)."""
    return [] if genotype_format(path) == "vcf" else plink.sibling_paths(path)


def sample_file(path: str) -> str | None:
    """The file a PLINK genotype file's sample ids come from (.fam, .psam); None for VCF / BCF,
    whose samples are in its own header."""
    return None if genotype_format(path) == "vcf" else plink.sibling_paths(path)[1]


def genotype_index(path: str) -> str | None:
    """A VCF / BCF file's index (.csi preferred, else .tbi) when it has one; None for PLINK."""
    return vcf.index_path(path) if genotype_format(path) == "vcf" else None


def genotype_samples(path: str) -> list[str]:
    """Sample ids of a genotype file (PLINK: of its .fam / .psam), in file order."""
    if genotype_format(path) == "vcf":
        return vcf.vcf_samples(path)
    return plink.plink_samples(path)


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
    """ALT dosages of the bi-allelic SNVs of `chrom` in [start, end], filtered: (n_variants,
    len(samples)) float32 with the variant table (see :func:`twasnet.io.vcf.read_genotypes`)."""
    reader = vcf.read_genotypes if genotype_format(path) == "vcf" else plink.read_plink_genotypes
    return reader(
        path,
        chrom=chrom,
        samples=samples,
        start=start,
        end=end,
        dosage_field=dosage_field,
        maf_min=maf_min,
        missing_rate_max=missing_rate_max,
        hwe_p_min=hwe_p_min,
    )
