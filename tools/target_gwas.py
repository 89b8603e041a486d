"""GWAS summary statistics of a (small, simulated) target cohort, as S-PrediXcan reads them.

    .venv/bin/python tools/target_gwas.py \
        --genotypes 'data/demo/target/genotypes/chr{chrom}.vcf.gz' \
        --phenotype data/demo/target/phenotype.tsv \
        --covariates data/demo/target/covariates.tsv --out gwas.tsv

Per bi-allelic SNV of the genotype files: the phenotype regressed on the ALT dosage with the
covariates (OLS): beta, se, zscore (= beta / se) and pvalue (t test). Each variant is named twice,
as the PredictDB export names it: ``rsid`` (the VCF ID, or the varID where the VCF has none) and
``varID`` (``chr1_12345_A_G_b38``), so the table serves either ``--model_db_snp_key`` (README:
"Stage 2 with the real S-PrediXcan"). Every chromosome is held in memory at once: this is for the
demo and test cohorts, not a genome-wide GWAS (which comes from GWAS software).
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from twasnet.export.predictdb import gtex_varid  # noqa: E402
from twasnet.export.stages import read_target_genotypes  # noqa: E402
from twasnet.io.covariates import read_covariates  # noqa: E402


def chromosomes_of(pattern: str) -> list[str]:
    """The chromosomes whose file exists for a ``{chrom}`` pattern (["1"] for one file)."""
    if "{chrom}" not in pattern:
        return ["1"]
    head, tail = (re.escape(part) for part in pattern.split("{chrom}", 1))
    names = glob.glob(pattern.replace("{chrom}", "*"))
    found = {m.group(1) for m in (re.fullmatch(f"{head}(.+?){tail}", p) for p in names) if m}
    return sorted(found, key=lambda c: (not c.isdigit(), c.zfill(3)))


def gwas_table(
    genotypes: str, *, phenotype: str, column: str, covariates: str | None, build: str
) -> pd.DataFrame:
    """One row per variant: rsid, varID, chromosome, position, effect_allele (ALT),
    non_effect_allele (REF), beta, se, zscore, pvalue."""
    spans = {chrom: [(1, 2**31 - 1)] for chrom in chromosomes_of(genotypes)}
    variants, dosages, samples = read_target_genotypes(
        genotypes, spans=spans, samples=None, dosage_field=None
    )
    y = pd.read_csv(phenotype, sep="\t", dtype={"sample": str}).set_index("sample")[column]
    keep = [i for i, s in enumerate(samples) if s in y.index and np.isfinite(y[s])]
    design = np.ones((len(keep), 1))
    if covariates:
        table = read_covariates(covariates, samples=samples)
        keep = [i for i in keep if samples[i] in table.index]
        ids = [samples[i] for i in keep]
        design = np.column_stack([np.ones(len(keep)), table.loc[ids].to_numpy(np.float64)])
    ids = [samples[i] for i in keep]
    x = np.asarray(dosages[:, keep], dtype=np.float64).T  # (n, v)
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)  # a missing dosage: the variant's mean
    q, _ = np.linalg.qr(design)
    ry = y.loc[ids].to_numpy(np.float64)
    ry = ry - q @ (q.T @ ry)
    rx = x - q @ (q.T @ x)
    df = len(ids) - design.shape[1] - 1
    sxx = (rx**2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = rx.T @ ry / sxx
        se = np.sqrt(((ry**2).sum() - beta**2 * sxx) / df / sxx)
        z = beta / se
    varid = gtex_varid(
        variants["chrom"], variants["pos"], variants["ref"], variants["alt"], build=build
    )
    vcf_ids = variants["variant_id"].fillna("").astype(str)
    rsid = [i if i and i != "." else v for i, v in zip(vcf_ids, varid, strict=True)]
    out = pd.DataFrame(
        {
            "rsid": rsid,
            "varID": varid,
            "chromosome": "chr" + variants["chrom"].astype(str).str.removeprefix("chr"),
            "position": variants["pos"].to_numpy(),
            "effect_allele": variants["alt"].to_numpy(),
            "non_effect_allele": variants["ref"].to_numpy(),
            "beta": beta,
            "se": se,
            "zscore": z,
            "pvalue": 2 * stats.t.sf(np.abs(z), df),
        }
    )
    return out[np.isfinite(out["zscore"])].reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genotypes", required=True, help="VCF/BCF, or a '{chrom}' pattern")
    parser.add_argument("--phenotype", required=True, help="TSV: sample column + phenotype")
    parser.add_argument("--column", default="phenotype", help="phenotype column (phenotype)")
    parser.add_argument("--covariates", default=None, help="covariates (GTEx or samples x)")
    parser.add_argument("--build", default="b38", help="varID build suffix, as export.build")
    parser.add_argument("--out", required=True, help="output TSV")
    args = parser.parse_args(argv)
    table = gwas_table(
        args.genotypes,
        phenotype=args.phenotype,
        column=args.column,
        covariates=args.covariates,
        build=args.build,
    )
    table.to_csv(args.out, sep="\t", index=False, float_format="%.6g")
    print(f"{args.out}: {len(table)} variants")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
