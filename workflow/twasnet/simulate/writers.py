"""Writers: the simulated cohort in twasnet's input formats, the truth tables and simulation.json.

Bgzipped VCF (phased GT, tabix index), GTEx v8 / tensorQTL expression BED, GTEx covariates,
annotation parquet, truth TSVs and the provenance JSON. Nothing here draws random numbers, and
every file is deterministic (no timestamps), so one seed gives byte-identical files.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, replace
from pathlib import Path

import msprime
import numpy as np
import pandas as pd
import pysam

from twasnet.simulate.annotations import ANNOTATION_COLUMNS
from twasnet.simulate.genotypes import Chromosome
from twasnet.simulate.params import SimulationParameters
from twasnet.simulate.traits import Gene, standardise

__all__ = [
    "cohort_paths",
    "write_annotations",
    "write_covariates",
    "write_expression",
    "write_genetic_values",
    "write_summary",
    "write_target_cohort",
    "write_truth_genes",
    "write_truth_variants",
    "write_vcf",
]


def cohort_paths(out: Path, n_chromosomes: int) -> dict[str, str]:
    """The eQTL cohort's files under ``out`` (genotypes: a template with ``{chrom}``) and the
    chromosome names ("1,2")."""
    return {
        "genotypes": str(out / "genotypes" / "chr{chrom}.vcf.gz"),
        "expression": str(out / "expression.bed.gz"),
        "covariates": str(out / "covariates.tsv"),
        "annotations": str(out / "annotations.parquet"),
        "truth_genes": str(out / "truth_genes.tsv"),
        "truth_variants": str(out / "truth_variants.tsv.gz"),
        "truth_genetic_values": str(out / "truth_genetic_values.tsv.gz"),
        "simulation": str(out / "simulation.json"),
        "chromosomes": ",".join(str(c + 1) for c in range(n_chromosomes)),
    }


def _write_bgzf(path: str | Path, chunks) -> None:
    """Write byte chunks to a BGZF file (deterministic: no timestamps)."""
    with pysam.BGZFile(str(path), "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)


def _vcf_chunks(ch: Chromosome, sample_ids: np.ndarray, chunk: int = 2048):
    """The VCF's header, then its records ``chunk`` at a time, as bytes; the first
    ``sample_ids.size`` individuals' haplotypes."""
    n_ind = sample_ids.size
    header = [
        "##fileformat=VCFv4.2",
        "##source=twasnet.simulate (msprime coalescent)",
        f"##contig=<ID={ch.name},length={ch.length}>",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"])
        + "\t"
        + "\t".join(sample_ids),
    ]
    yield ("\n".join(header) + "\n").encode()
    miss_rows = ch.missing[:, 0]
    for lo in range(0, ch.pos.size, chunk):
        hi = min(lo + chunk, ch.pos.size)
        h = ch.hap[lo:hi, : 2 * n_ind]
        arr = np.empty((hi - lo, n_ind, 4), dtype=np.uint8)
        arr[:, :, 0] = 48 + h[:, 0::2]
        arr[:, :, 1] = ord("|")
        arr[:, :, 2] = 48 + h[:, 1::2]
        arr[:, :, 3] = ord("\t")
        arr[:, -1, 3] = ord("\n")
        sel = (miss_rows >= lo) & (miss_rows < hi)
        r, i = ch.missing[sel, 0] - lo, ch.missing[sel, 1]
        arr[r, i, 0], arr[r, i, 1], arr[r, i, 2] = ord("."), ord("/"), ord(".")
        lines = [
            f"{ch.name}\t{ch.pos[k]}\t{ch.rsid[k]}\t{ch.ref[k]}\t{ch.alt[k]}\t.\tPASS\t.\tGT\t".encode()
            + arr[k - lo].tobytes()
            for k in range(lo, hi)
        ]
        yield b"".join(lines)


def write_vcf(path: str, ch: Chromosome, *, sample_ids: np.ndarray) -> None:
    """Bgzipped VCF with phased GT (``./.`` for injected missing calls) and a tabix index."""
    if int(ch.hap.max()) > 9:
        raise RuntimeError(f"{path}: a site has more than 10 alleles; cannot format GT")
    _write_bgzf(path, _vcf_chunks(ch, sample_ids))
    pysam.tabix_index(path, preset="vcf", force=True)


def _tsv_bytes(df: pd.DataFrame, float_format: str = "%.6f") -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, sep="\t", index=False, float_format=float_format, lineterminator="\n")
    return buf.getvalue().encode()


def write_expression(
    path: str,
    genes: list[Gene],
    chroms: list[Chromosome],
    *,
    sample_ids: np.ndarray,
    keep: np.ndarray,
) -> None:
    """GTEx v8 / tensorQTL BED: #chr, start (TSS - 1), end (TSS), gene_id, one column per sample
    among ``sample_ids[keep]``, each gene standardised over them."""
    values = np.array([standardise(g.expression[keep]) for g in genes])
    df = pd.DataFrame(values, columns=list(sample_ids[keep]))
    df.insert(0, "gene_id", [g.gene_id for g in genes])
    df.insert(0, "end", [g.tss for g in genes])
    df.insert(0, "start", [g.tss - 1 for g in genes])
    df.insert(0, "#chr", [chroms[g.chrom].name for g in genes])
    order = np.lexsort((df["start"].to_numpy(), [g.chrom for g in genes]))
    _write_bgzf(path, [_tsv_bytes(df.iloc[order])])
    pysam.tabix_index(path, preset="bed", force=True)


def write_covariates(
    path: str, covariates: np.ndarray, names: list[str], *, sample_ids: np.ndarray, keep: np.ndarray
) -> None:
    """GTEx covariates layout: column ``ID`` with covariate names, one column per sample among
    ``sample_ids[keep]``; ``covariates`` (n_total, len(names))."""
    lines = ["\t".join(["ID", *sample_ids[keep]])]
    for name, row in zip(names, covariates[keep].T, strict=True):
        cells = [str(int(v)) for v in row] if name == "sex" else [f"{v:.6f}" for v in row]
        lines.append("\t".join([name, *cells]))
    Path(path).write_text("\n".join(lines) + "\n")


def write_annotations(path: str, chroms: list[Chromosome], rows: list[np.ndarray]) -> None:
    """Parquet, one row per biallelic SNV in ``rows[c]`` (SNV indices of chromosome c) with
    ANNOTATION_COLUMNS (the five marks as int8, the two scores rounded to 4 decimals)."""
    frames = []
    for ch, keep in zip(chroms, rows, strict=True):
        rec = ch.snv[keep]
        df = pd.DataFrame(
            {
                "chrom": pd.Series([ch.name] * keep.size, dtype="string"),
                "pos": ch.pos[rec].astype(np.int64),
                "ref": pd.Series(ch.ref[rec], dtype="string"),
                "alt": pd.Series(ch.alt[rec], dtype="string"),
            }
        )
        for j, col in enumerate(ANNOTATION_COLUMNS):
            v = ch.annotations[keep, j]
            df[col] = v.astype(np.int8) if j < 5 else np.round(v, 4)
        frames.append(df)
    pd.concat(frames, ignore_index=True).to_parquet(path, index=False)


def write_truth_genes(
    path: str, genes: list[Gene], chroms: list[Chromosome], *, window_bp: int
) -> None:
    """One row per gene: location, h² components, causal count, effect kinds, window."""
    rows = []
    for g in genes:
        ch = chroms[g.chrom]
        in_win = np.abs(ch.pos[ch.snv] - g.tss) <= window_bp
        rows.append(
            {
                "gene_id": g.gene_id,
                "chrom": ch.name,
                "tss": g.tss,
                "h2_total": g.h2,
                "h2_linear": g.h2_linear,
                "h2_nonlinear": g.h2_nonlinear,
                "n_causal": int(g.causal.size),
                "effect_kinds": ",".join(g.kinds) if g.kinds else "none",
                "covariate_share": g.covariate_share,
                "window_start": max(1, g.tss - window_bp),
                "window_end": min(ch.length, g.tss + window_bp),
                "n_snv_maf01_in_window": int((in_win & (ch.maf >= 0.01)).sum()),
            }
        )
    Path(path).write_bytes(_tsv_bytes(pd.DataFrame(rows)))


def write_truth_variants(
    path: str, genes: list[Gene], chroms: list[Chromosome], *, window_bp: int
) -> None:
    """Per gene: every biallelic SNV with MAF >= 0.01 in the window plus all causal ones."""
    frames = []
    for g in genes:
        ch = chroms[g.chrom]
        snv_pos = ch.pos[ch.snv]
        rows = np.flatnonzero((np.abs(snv_pos - g.tss) <= window_bp) & (ch.maf >= 0.01))
        rows = np.union1d(rows, g.causal)
        causal = np.isin(rows, g.causal)
        kind = np.full(rows.size, "none", dtype=object)
        beta = np.zeros(rows.size)
        where = np.searchsorted(rows, g.causal)
        kind[where] = g.variant_kinds
        beta[where] = g.beta
        rec = ch.snv[rows]
        frames.append(
            pd.DataFrame(
                {
                    "chrom": ch.name,
                    "pos": ch.pos[rec],
                    "ref": ch.ref[rec],
                    "alt": ch.alt[rec],
                    "gene_id": g.gene_id,
                    "causal": causal.astype(np.int8),
                    "effect_kind": kind,
                    "beta": beta,
                    "maf": ch.maf[rows],
                }
            )
        )
    _write_bgzf(path, [_tsv_bytes(pd.concat(frames, ignore_index=True), float_format="%.6g")])


def write_genetic_values(path: str, genes: list[Gene], *, sample_ids: np.ndarray) -> None:
    """True genetic values: gene_id then one column per simulated individual."""
    df = pd.DataFrame(np.array([g.genetic_value for g in genes]), columns=list(sample_ids))
    df.insert(0, "gene_id", [g.gene_id for g in genes])
    _write_bgzf(path, [_tsv_bytes(df)])


def write_target_cohort(
    out: Path,
    chroms: list[Chromosome],
    genes: list[Gene],
    *,
    covariates: np.ndarray,
    covariate_names: list[str],
    individuals: np.ndarray,
    phenotype: np.ndarray,
    causal: list[Gene],
    effects: np.ndarray,
    binary: bool,
) -> dict[str, str]:
    """Write the target cohort under ``out``: ``individuals`` (n,) of the simulation (none of
    them in the eQTL cohort) as TGT-S00001..., their genotypes (same records, no missing calls),
    covariates, ``phenotype`` (n,) and its truth (which genes are ``causal``, their
    ``effects``)."""
    ids = np.array([f"TGT-S{i + 1:05d}" for i in range(individuals.size)], dtype=object)
    paths = {
        "target_genotypes": str(out / "genotypes" / "chr{chrom}.vcf.gz"),
        "target_phenotype": str(out / "phenotype.tsv"),
        "target_covariates": str(out / "covariates.tsv"),
        "target_truth": str(out / "truth_phenotype_genes.tsv"),
    }
    (out / "genotypes").mkdir(parents=True, exist_ok=True)
    haplotypes = np.column_stack([2 * individuals, 2 * individuals + 1]).ravel()
    for c, ch in enumerate(chroms):
        target = replace(ch, hap=ch.hap[:, haplotypes], missing=np.zeros((0, 2), np.int64))
        write_vcf(paths["target_genotypes"].format(chrom=c + 1), target, sample_ids=ids)
    table = pd.DataFrame({"sample": ids, "phenotype": phenotype})
    Path(paths["target_phenotype"]).write_bytes(
        _tsv_bytes(table, float_format="%.0f" if binary else "%.6f")
    )
    write_covariates(
        paths["target_covariates"],
        covariates[individuals],
        covariate_names,
        sample_ids=ids,
        keep=np.arange(individuals.size),
    )
    effect = dict(zip((g.gene_id for g in causal), effects, strict=True))
    truth = pd.DataFrame(
        {
            "gene_id": [g.gene_id for g in genes],
            "h2_expression": [g.h2 for g in genes],
            "causal": [int(g.gene_id in effect) for g in genes],
            "effect": [effect.get(g.gene_id, 0.0) for g in genes],
        }
    )
    Path(paths["target_truth"]).write_bytes(_tsv_bytes(truth))
    return paths


def write_summary(
    path: str,
    params: SimulationParameters,
    chroms: list[Chromosome],
    *,
    sample_ids: np.ndarray,
    expressed: np.ndarray,
    dropped: np.ndarray,
) -> None:
    """simulation.json: the generator, every parameter, the h² definition, msprime's version,
    per-chromosome record counts and the sample overlap (``expressed``, ``dropped``: indices into
    ``sample_ids``)."""
    summary = {
        "generator": "twasnet.simulate",
        "parameters": asdict(params),
        "h2_definition": "Var(G) / (Var(G) + Var(noise)), covariate-adjusted scale, in-sample",
        "msprime_version": msprime.__version__,
        "chromosomes": {
            ch.name: {
                "length_bp": ch.length,
                "n_records": int(ch.pos.size),
                "n_biallelic_snv": int(ch.snv.size),
                "n_multiallelic": int(sum("," in a for a in ch.alt)),
                "n_indel": int(ch.is_indel.sum()),
                "n_missing_calls": int(ch.missing.shape[0]),
            }
            for ch in chroms
        },
        "samples": {
            "genotyped": params.n_individuals,
            "expression": int(expressed.size),
            # the extra individual, right after the genotyped ones (target individuals follow it)
            "expression_without_genotypes": [str(sample_ids[params.n_individuals])],
            "genotyped_without_expression": sorted(str(s) for s in sample_ids[dropped]),
        },
    }
    Path(path).write_text(json.dumps(summary, indent=2) + "\n")
