"""The export, provenance and stage-2 steps as plain functions over file paths (like
:mod:`twasnet.stages`): read, call the path-free library, write atomically."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from twasnet.artefact import GeneModel
from twasnet.associate import associate_genes, fdr, is_binary
from twasnet.errors import InputError
from twasnet.export.artefact import load_artefact
from twasnet.export.predictdb import (
    STATUS_COLUMNS,
    check_predictdb,
    extra_table,
    gene_covariance,
    gene_weights,
    rekey_covariance,
    write_covariance,
    write_predictdb,
)
from twasnet.export.predictdb import performance_filter as predictdb_performance_filter
from twasnet.io.covariates import read_covariates
from twasnet.io.expression import read_expression_bed
from twasnet.io.genotypes import genotype_path, genotype_samples, read_genotypes
from twasnet.io.store import (
    atomic_output,
    fit_key,
    read_json,
    read_table,
    stores_loader,
    write_json,
    write_table,
)
from twasnet.predict import predict_genes, variant_spans
from twasnet.provenance import now, run_provenance, static_provenance
from twasnet.split import split_indices

log = logging.getLogger("twasnet")
# How the export's genes table starts the reason of a gene that export.filter left out.
FILTERED = "filtered out by export.filter: "


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
    out_covariance_varid: str,
    out_genes: str,
    performance_filter: Mapping[str, float | None] | None = None,
) -> None:
    """One linear model's fits for one split -> PredictDB .db + covariance files keyed by rsid
    and by varID (on the split's training individuals), then the schema check on what was
    written. ``performance_filter`` (``export.filter``: r2_min, p_max; None for none) keeps only
    genes whose held-out prediction passes it. ``out_genes`` lists every gene of the fits with
    whether it was exported and, if not, why."""
    samples = read_table(samples_path)["sample"].astype(str).tolist()
    train_idx, _, _ = split_indices(read_table(split_path), samples, repeat=split)
    performance = _performance(record_paths, selection_path, split)
    status, why_not = _not_exported(performance, performance_filter)
    load = stores_loader(store_dirs)
    weights, covariances, chromosomes, reasons, n_snps = [], [], set(), {}, {}
    for path in sorted(artefact_paths):
        gene = load_artefact(path)
        gene_id = fit_key(path)[0] if gene is None else gene.gene_id
        linear = gene is not None and gene.is_linear
        n_snps[gene_id] = int(np.count_nonzero(gene.coef)) if linear else 0
        reasons[gene_id] = (
            status.get(gene_id, "not modelled")
            if not linear
            else _why_left_out(n_snps[gene_id], why_not.get(gene_id, ""))
        )
        if reasons[gene_id]:
            continue
        rows = gene_weights(gene.gene_id, variants=gene.variants, coef=gene.coef, build=build)
        chrom = str(gene.variants["chrom"].iloc[0])
        data = load(chrom, gene.gene_id)
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
    for key, out in (("rsid", out_covariance), ("varID", out_covariance_varid)):
        write_covariance(rekey_covariance(cov, weights, key), out)
        check_predictdb(out_db, out, snp_key=key)
    table = _export_genes_table(performance, reasons, n_snps)
    write_table(table, out_genes)
    _log_left_out(
        table,
        n_weights=len(weights),
        performance_filter=performance_filter,
        out_db=out_db,
        out_genes=out_genes,
    )


def _why_left_out(n_snps: int, filtered: str) -> str:
    """ "" for a linear model to export, else why not: no weights, or ``filtered`` (why
    export.filter leaves it out)."""
    if not n_snps:
        return "no nonzero weight (the model predicts a constant)"
    return f"{FILTERED}{filtered}" if filtered else ""


def _performance(record_paths: Sequence[str], selection_path: str, split: int) -> pd.DataFrame:
    """Per gene of the fits: its record (status, reason, held-out r2_pearson, pearson_r,
    pearson_p, r2_sse) with the selection's h2 and h2_p of ``split``."""
    records = pd.DataFrame([read_json(p) for p in record_paths])
    for column in ("gene_id", "status", "reason", "r2_pearson", "pearson_r", "pearson_p"):
        if column not in records:
            records[column] = pd.Series(dtype=object)
    records["gene_id"] = records["gene_id"].astype(str)
    selection = read_table(selection_path)
    selection = selection[selection["split"] == split][["gene_id", "h2", "h2_p"]]
    selection = selection.assign(gene_id=selection["gene_id"].astype(str))
    return records.merge(selection, on="gene_id", how="left")


def _not_exported(
    performance: pd.DataFrame, performance_filter: Mapping[str, float | None] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Per gene: why it has no model ("not modelled (status: reason)"), and why export.filter
    leaves it out ("" where it passes, or there is no filter)."""
    status = {
        g: f"not modelled ({s}: {r})" if isinstance(r, str) and r else f"not modelled ({s})"
        for g, s, r in zip(
            performance["gene_id"], performance["status"], performance["reason"], strict=True
        )
    }
    if not performance_filter:
        return status, {}
    reasons = predictdb_performance_filter(
        performance,
        r2_min=performance_filter.get("r2_min"),
        p_max=performance_filter.get("p_max"),
    )
    return status, dict(zip(performance["gene_id"], reasons, strict=True))


def _log_left_out(
    table: pd.DataFrame,
    *,
    n_weights: int,
    performance_filter: Mapping[str, float | None] | None,
    out_db: str,
    out_genes: str,
) -> None:
    """The export's log: how many genes were exported, each gene left out and why; a console
    warning with the count when export.filter left some out."""
    left_out = table[~table["exported"]]
    log.info(
        "PredictDB: %d genes exported (%d weights), %d left out (listed in %s)",
        int(table["exported"].sum()),
        n_weights,
        len(left_out),
        out_genes,
    )
    for gene_id, reason in zip(left_out["gene_id"], left_out["reason"], strict=True):
        log.info("PredictDB: %s left out: %s", gene_id, reason)
    filtered = left_out["reason"].str.startswith(FILTERED)
    if filtered.any():
        log.warning(
            "PredictDB export %s: export.filter (%s) left out %d of %d genes with a model; they "
            "are listed with the reason in %s",
            out_db,
            ", ".join(f"{k} {v:g}" for k, v in (performance_filter or {}).items() if v is not None),
            int(filtered.sum()),
            int(filtered.sum() + table["exported"].sum()),
            out_genes,
        )


def _export_genes_table(
    performance: pd.DataFrame, reasons: Mapping[str, str], n_snps: Mapping[str, int]
) -> pd.DataFrame:
    """One row per gene of the fits (:data:`STATUS_COLUMNS`); n_snps: the model's nonzero
    weights, exported or not."""
    genes = sorted(set(performance["gene_id"]) | set(reasons))
    perf = performance.drop_duplicates("gene_id").set_index("gene_id").reindex(genes)
    table = pd.DataFrame(
        {
            "gene_id": genes,
            "exported": [reasons.get(g, "no model artefact") == "" for g in genes],
            "reason": [reasons.get(g, "no model artefact") for g in genes],
            "n_snps": [int(n_snps.get(g, 0)) for g in genes],
            "r2_pearson": perf["r2_pearson"].to_numpy(dtype=np.float64),
            "pearson_r": perf["pearson_r"].to_numpy(dtype=np.float64),
            "pearson_p": perf["pearson_p"].to_numpy(dtype=np.float64),
        },
        columns=list(STATUS_COLUMNS),
    )
    return table


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
    samples = list(samples) if samples is not None else genotype_samples(first)
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
