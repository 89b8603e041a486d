"""The export, provenance and stage-2 steps as plain functions over file paths (like
:mod:`twasnet.stages`): read, call the path-free library, write atomically."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from twasnet.associate import associate_genes, fdr, is_binary
from twasnet.errors import InputError
from twasnet.export.artefact import GeneModel, load_artefact
from twasnet.export.predictdb import (
    check_predictdb,
    extra_table,
    gene_covariance,
    gene_weights,
    write_covariance,
    write_predictdb,
)
from twasnet.io.covariates import read_covariates
from twasnet.io.expression import read_expression_bed
from twasnet.io.store import (
    atomic_output,
    load_gene,
    read_json,
    read_table,
    write_json,
    write_table,
)
from twasnet.io.vcf import genotype_path, read_genotypes, vcf_samples
from twasnet.predict import predict_genes, variant_spans
from twasnet.provenance import now, run_provenance, static_provenance
from twasnet.split import split_indices

log = logging.getLogger("twasnet")


# ---------------------------------------------------------------------------- provenance
def write_static_provenance(
    *, config: dict, input_files: Sequence[str], workflow_dir: str, out_path: str
) -> None:
    """The run-independent part of provenance.json (see :func:`static_provenance`)."""
    write_json(
        static_provenance(config=config, input_files=input_files, workflow_dir=workflow_dir),
        out_path,
    )


def write_run_provenance(
    *, static_path: str, started: str, command: Sequence[str], out_path: str
) -> None:
    """provenance.json: the static part plus this run's start/end times and command line."""
    static = read_json(static_path)
    record = run_provenance(static, started=started, finished=now(), command=command)
    write_json(record, out_path)


# ---------------------------------------------------------------------------- PredictDB
def export_predictdb(
    *,
    artefact_paths: Sequence[str],
    record_paths: Sequence[str],
    selection_path: str,
    store_dirs: Sequence[str],
    samples_path: str,
    split_path: str,
    split: int,
    build: str,
    seed: int,
    out_db: str,
    out_covariance: str,
) -> None:
    """One linear model's fits for one split -> PredictDB .db + covariance file (on the split's
    training individuals), then the schema check on what was written."""
    samples = read_table(samples_path)["sample"].astype(str).tolist()
    train_idx, _, _ = split_indices(read_table(split_path), samples, repeat=split)
    records = pd.DataFrame([read_json(p) for p in record_paths])
    selection = read_table(selection_path)
    selection = selection[selection["split"] == split][["gene_id", "h2", "h2_p"]]
    store_of = {Path(d).name: d for d in store_dirs}
    weights, covariances, chromosomes = [], [], set()
    for path in sorted(artefact_paths):
        gene = load_artefact(path)
        if gene is None or not gene.is_linear or not np.any(gene.coef != 0):
            continue
        rows = gene_weights(gene.gene_id, variants=gene.variants, coef=gene.coef, build=build)
        chrom = str(gene.variants["chrom"].iloc[0])
        data = load_gene(store_of[chrom], gene.gene_id)
        used = np.flatnonzero(gene.coef != 0)
        covariances.append(
            gene_covariance(
                gene.gene_id, rsids=rows["rsid"], dosages=data.dosages[np.ix_(train_idx, used)]
            )
        )
        weights.append(rows)
        chromosomes.add(chrom)
    columns = ["gene", "rsid", "varID", "ref_allele", "eff_allele", "weight"]
    weights = pd.concat(weights, ignore_index=True) if weights else pd.DataFrame(columns=columns)
    performance = records.merge(selection, on="gene_id", how="left")
    extra = extra_table(performance, weights)
    write_predictdb(
        out_db,
        weights=weights,
        extra=extra,
        n_samples=len(train_idx),
        chromosomes=sorted(chromosomes),
        seed=seed,
    )
    cov = (
        pd.concat(covariances, ignore_index=True)
        if covariances
        else pd.DataFrame(columns=["GENE", "RSID1", "RSID2", "VALUE"])
    )
    write_covariance(cov, out_covariance)
    check_predictdb(out_db, out_covariance)
    log.info("PredictDB: %d genes, %d weights", len(extra), len(weights))


# ---------------------------------------------------------------------------- predict
def _model_key(path: str | Path) -> str:
    name = Path(path).name
    return name.split(".bed")[0].split(".parquet")[0]


def read_target_genotypes(
    genotypes: str,
    *,
    spans: dict[str, list[tuple[int, int]]],
    samples: Sequence[str] | None,
    dosage_field: str | None,
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Every bi-allelic SNV of the target genotypes (path or ``{chrom}`` pattern) in ``spans``,
    unfiltered. Returns variants (v rows), dosages (v, n) and the sample ids."""
    first = genotype_path(genotypes, next(iter(spans), "1"))
    samples = list(samples) if samples is not None else vcf_samples(first)
    frames, blocks = [], []
    for chrom, intervals in spans.items():
        for start, end in intervals:
            block = read_genotypes(
                genotype_path(genotypes, chrom),
                chrom=chrom,
                samples=samples,
                start=start,
                end=end,
                dosage_field=dosage_field,
                maf_min=0.0,
                missing_rate_max=1.0,
                hwe_p_min=None,
            )
            frames.append(block.variants)
            blocks.append(block.dosages)
    if not frames:
        empty = pd.DataFrame(columns=["chrom", "pos", "ref", "alt"])
        return empty, np.zeros((0, len(samples)), dtype=np.float32), samples
    return pd.concat(frames, ignore_index=True), np.concatenate(blocks), samples


def predict_cohort(
    *,
    artefact_paths: Sequence[str],
    genotypes: str,
    samples: Sequence[str] | None = None,
    dosage_field: str | None = None,
    min_fraction: float = 0.8,
    keys: Sequence[tuple[str, int]] = (),
    out_dir: str,
) -> list[str]:
    """Predict every artefact's gene for the target cohort; write ``<model>.split<r>.bed.gz``
    (GTEx-style BED, one row per gene) and ``.parquet`` per model and split found (and per
    (model, split) of ``keys``, empty when no gene of it was modelled), and coverage.tsv.
    Returns the BED paths."""
    models = [m for m in (load_artefact(p) for p in sorted(artefact_paths)) if m is not None]
    if not models:
        raise InputError("no trained gene model found: nothing to predict")
    variants, dosages, samples = read_target_genotypes(
        genotypes, spans=variant_spans(models), samples=samples, dosage_field=dosage_field
    )
    predictions, coverage = predict_genes(
        models, target_variants=variants, target_dosages=dosages, min_fraction=min_fraction
    )
    out = Path(out_dir)
    write_table(coverage, out / "coverage.tsv")
    written = []
    groups: dict[tuple[str, int], list[int]] = {(str(m), int(r)): [] for m, r in keys}
    for k, gene in enumerate(models):
        groups.setdefault((gene.model, gene.split), []).append(k)
    for (model, split), rows in sorted(groups.items()):
        table = _bed_table([models[k] for k in rows], predictions[rows], samples)
        stem = out / f"{model}.split{split}"
        write_table(table, f"{stem}.parquet")
        _write_bed(table, f"{stem}.bed.gz")
        written.append(f"{stem}.bed.gz")
    return written


def _bed_table(models: list[GeneModel], values: np.ndarray, samples: list[str]) -> pd.DataFrame:
    tss = [m.tss for m in models]
    head = pd.DataFrame(
        {
            "#chr": [f"chr{m.variants['chrom'].iloc[0]}" for m in models],
            "start": [t - 1 for t in tss],
            "end": tss,
            "gene_id": [m.gene_id for m in models],
        }
    )
    table = pd.concat([head, pd.DataFrame(values, columns=samples)], axis=1)
    return table.sort_values(["#chr", "start", "gene_id"], kind="stable").reset_index(drop=True)


def _write_bed(table: pd.DataFrame, path: str) -> None:
    text = io.StringIO()
    table.to_csv(text, sep="\t", index=False, float_format="%.8g", lineterminator="\n")
    with atomic_output(path) as tmp:
        with pysam.BGZFile(str(tmp), "wb") as handle:
            handle.write(text.getvalue().encode())


# ---------------------------------------------------------------------------- associate
def associate_cohort(
    *,
    prediction_paths: Sequence[str],
    phenotype_path: str,
    phenotype_column: str,
    covariates_path: str | None,
    binary: str | bool = "auto",
    out_path: str,
) -> pd.DataFrame:
    """TWAS table: per gene, model and split, the phenotype on predicted expression with the
    covariates; effect, SE, statistic, p and BH FDR within each model and split."""
    frames = []
    for path in sorted(prediction_paths):
        predicted = read_expression_bed(str(path)).values
        samples = list(predicted.columns)
        phenotypes = read_covariates(phenotype_path, samples=samples)
        if phenotype_column not in phenotypes.columns:
            raise InputError(
                f"{phenotype_path}: no column {phenotype_column!r} (columns: "
                f"{', '.join(map(str, phenotypes.columns))}); set the phenotype column"
            )
        covariates = None
        shared = [s for s in samples if s in set(map(str, phenotypes.index))]
        if covariates_path:
            covariates = read_covariates(covariates_path, samples=samples)
            shared = [s for s in shared if s in set(map(str, covariates.index))]
        if len(shared) < 10:
            raise InputError(
                f"only {len(shared)} individuals have predicted expression ({path}), a phenotype "
                f"({phenotype_path}){' and covariates' if covariates_path else ''}: check that "
                "the sample ids match"
            )
        y = phenotypes.loc[shared, phenotype_column].to_numpy(dtype=np.float64)
        as_binary = is_binary(y) if binary == "auto" else bool(binary)
        table = associate_genes(
            y,
            predicted[shared].to_numpy(dtype=np.float64),
            covariates=None if covariates is None else covariates.loc[shared].to_numpy(),
            binary=as_binary,
        )
        model, _, split = _model_key(path).rpartition(".split")
        table.insert(0, "split", int(split))
        table.insert(0, "model", model)
        table.insert(0, "gene_id", list(predicted.index))
        table.insert(len(table.columns) - 2, "fdr", fdr(table["p"].to_numpy()))
        table["regression"] = "logistic" if as_binary else "linear"
        frames.append(table)
    result = pd.concat(frames, ignore_index=True)
    write_table(result, out_path)
    return result
