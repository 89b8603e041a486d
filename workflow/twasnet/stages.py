"""The workflow's stages as plain functions over file paths: read with ``twasnet.io``,
compute with the library, write atomically with :mod:`twasnet.io.store`. Each Snakemake script
calls one stage, so every step of the workflow can be imported and tested without Snakemake."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from twasnet.adjust import residualise
from twasnet.cohort import intersect_samples, lost_samples_message
from twasnet.errors import InputError
from twasnet.io.annotations import (
    MATCH_COLUMNS,
    low_match_warning,
    match_annotations,
    match_report,
    read_annotations,
)
from twasnet.io.covariates import degenerate_covariates, degenerate_message, read_covariates
from twasnet.io.expression import read_expression_bed
from twasnet.io.genotypes import genotype_samples, read_genotypes
from twasnet.io.store import (
    ANNOTATION_PREFIX,
    FIT_FILES,
    atomic_output,
    fit_key,
    gene_loader,
    load_gene,
    read_json,
    read_table,
    write_artefact,
    write_cis_store,
    write_json,
    write_table,
)
from twasnet.io.vcf import VARIANT_COLUMNS, canonical_chrom
from twasnet.metrics import importance_ranking
from twasnet.models.registry import MODELS, TrainingInputs
from twasnet.select import assess_gene, decide, selected_genes
from twasnet.split import split_indices, split_individuals
from twasnet.train import RECORD_FIELDS, failed_result, train_gene, training_inputs

log = logging.getLogger("twasnet")

GENE_COLUMNS = ["gene_id", "chrom", "tss"]


def prepare_cohort(
    *,
    genotype_files: Sequence[str],
    expression_path: str,
    covariates_path: str | None,
    min_samples: int,
    out_samples: str,
    out_expression: str,
    out_covariates: str,
    out_summary: str,
) -> None:
    """Intersect the samples of genotypes, expression and covariates and store the expression and
    covariates of those samples, in genotype order, in twasnet's own tables."""
    file_samples = genotype_samples(genotype_files[0])
    for other in genotype_files[1:]:
        if genotype_samples(other) != file_samples:
            raise InputError(
                f"{other}: its samples differ from those of {genotype_files[0]}; per-chromosome "
                "genotype files must hold the same samples in the same order"
            )
    expression = read_expression_bed(expression_path)
    covariates = None
    if covariates_path:
        covariates = read_covariates(covariates_path, samples=expression.values.columns)
    found = intersect_samples(
        genotype=file_samples,
        expression=list(expression.values.columns),
        covariates=None if covariates is None else list(covariates.index),
        min_samples=min_samples,
    )
    for source, count in found.counts.items():
        log.info("samples in %s: %d", source, count)
    files = {"genotype": genotype_files[0], "expression": expression_path}
    lost = lost_samples_message(found, files | {"covariates": covariates_path or ""})
    if lost:
        log.warning(lost)
    samples = found.samples
    values = expression.values[samples]
    table = pd.concat([expression.genes.set_index("gene_id"), values], axis=1).reset_index()
    if covariates is None:
        covariates = pd.DataFrame(index=samples)
    covariates = covariates.loc[samples]
    dropped = degenerate_covariates(covariates)
    if dropped:
        log.warning(degenerate_message(str(covariates_path), dropped, len(samples)))
        covariates = covariates.drop(columns=list(dropped))
    write_table(pd.DataFrame({"sample": samples}), out_samples)
    write_table(table, out_expression)
    write_table(covariates.reset_index(names="sample"), out_covariates)
    summary = {"counts": found.counts, "only_in": found.only_in, "covariates_dropped": dropped}
    write_json(summary, out_summary)


def make_split(
    *,
    samples_path: str,
    out_path: str,
    seed: int,
    test_fraction: float,
    n_folds: int,
    n_repeats: int,
) -> None:
    """Write the one seeded partition of the cohort's individuals (see :mod:`twasnet.split`)."""
    samples = read_table(samples_path)["sample"].astype(str).tolist()
    split = split_individuals(
        samples, seed=seed, test_fraction=test_fraction, n_folds=n_folds, n_repeats=n_repeats
    )
    write_table(split, out_path)


def merge_windows(tss: np.ndarray, window_bp: int) -> list[tuple[int, int]]:
    """Disjoint, sorted intervals [start, end] (1-based, inclusive) covering every TSS ± window."""
    intervals: list[tuple[int, int]] = []
    for centre in np.sort(np.asarray(tss, dtype=np.int64)):
        start, end = max(1, int(centre) - window_bp), int(centre) + window_bp
        if intervals and start <= intervals[-1][1] + 1:
            intervals[-1] = (intervals[-1][0], max(intervals[-1][1], end))
        else:
            intervals.append((start, end))
    return intervals


def extract_chromosome(
    *,
    chrom: str,
    genotype_path: str,
    samples_path: str,
    expression_path: str,
    annotations_path: str | None,
    window_bp: int,
    dosage_field: str | None,
    maf_min: float,
    missing_rate_max: float,
    hwe_p_min: float | None,
    annotation_fill: float,
    out_dir: str,
) -> None:
    """Read one chromosome's genotypes once (a region query per merged cis window) and store every
    gene's window as a slice of one matrix (see :mod:`twasnet.io.store`)."""
    samples = read_table(samples_path)["sample"].astype(str).tolist()
    genes = read_table(expression_path)[GENE_COLUMNS]
    genes = genes[genes["chrom"].astype(str) == str(chrom)].sort_values(["tss", "gene_id"])
    blocks, skipped = [], {}
    for start, end in merge_windows(genes["tss"].to_numpy(), window_bp):
        block = read_genotypes(
            genotype_path,
            chrom=chrom,
            samples=samples,
            start=start,
            end=end,
            dosage_field=dosage_field,
            maf_min=maf_min,
            missing_rate_max=missing_rate_max,
            hwe_p_min=hwe_p_min,
        )
        blocks.append(block)
        for reason, count in block.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + int(count)
    if blocks:
        dosages = np.concatenate([b.dosages for b in blocks], axis=0)
        variants = pd.concat([b.variants for b in blocks], ignore_index=True)
    else:
        dosages = np.zeros((0, len(samples)), dtype=np.float32)
        variants = pd.DataFrame(columns=list(VARIANT_COLUMNS))
    variants, match = _annotate(variants, chrom, annotations_path, annotation_fill)
    positions = variants["pos"].to_numpy(dtype=np.int64)
    tss = genes["tss"].to_numpy(dtype=np.int64)
    genes = genes.assign(
        first=np.searchsorted(positions, tss - window_bp, side="left"),
        stop=np.searchsorted(positions, tss + window_bp, side="right"),
    )
    genes["n_variants"] = genes["stop"] - genes["first"]
    log.info("chromosome %s: %d genes, %d variants kept", chrom, len(genes), len(variants))
    log.info("chromosome %s: records skipped by reason: %s", chrom, skipped)
    summary = {"chrom": chrom, "n_variants": len(variants), "skipped": skipped}
    if annotations_path:
        summary["annotation_match_rate"] = match.iloc[0]["match_rate"]
    write_table(match, f"{out_dir}/annotation_match.tsv")
    write_json(summary, f"{out_dir}/summary.json")
    write_cis_store(out_dir, dosages=dosages, variants=variants, genes=genes)


def _annotate(
    variants: pd.DataFrame, chrom: str, annotations_path: str | None, fill_value: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The chromosome's variants with their ``annot_*`` columns, and the one-row table of how
    many matched an annotation row (no rows without annotations); warns below
    :data:`~twasnet.io.annotations.MIN_MATCH_RATE`."""
    if not annotations_path:
        return variants, pd.DataFrame(columns=list(MATCH_COLUMNS))
    table = read_annotations(annotations_path)
    table = table[table["chrom"].astype(str) == str(chrom)]
    matched = match_annotations(variants, table, fill_value=fill_value)
    row = match_report(chrom, variants, table, matched)
    log.info("chromosome %s: %d of %d variants annotated", chrom, row["n_matched"], len(variants))
    warning = low_match_warning(annotations_path, row)
    if warning:
        log.warning(warning)
    matched.columns = [ANNOTATION_PREFIX + str(c) for c in matched.columns]
    variants = pd.concat([variants.reset_index(drop=True), matched.reset_index(drop=True)], axis=1)
    return variants, pd.DataFrame([row], columns=list(MATCH_COLUMNS))


def _cohort_arrays(expression_path: str, covariates_path: str, samples: list[str]):
    expression = read_table(expression_path).set_index("gene_id")
    covariates = read_table(covariates_path).set_index("sample")
    covariates.index = covariates.index.astype(str)
    return expression, covariates.loc[samples].to_numpy(dtype=np.float64)


def select_genes(
    *,
    store_dirs: Sequence[str],
    samples_path: str,
    expression_path: str,
    covariates_path: str,
    split_path: str,
    mode: str,
    p_max: float,
    gene_list_path: str | None,
    out_path: str,
) -> None:
    """Assess every gene's cis-h² on each repeat's training individuals and write selection.tsv,
    one row per gene and repeat, with the status ``selected`` or the reason it was dropped."""
    samples = read_table(samples_path)["sample"].astype(str).tolist()
    expression, covariates = _cohort_arrays(expression_path, covariates_path, samples)
    split = read_table(split_path)
    gene_list = None
    if mode == "list":
        gene_list = read_gene_list(gene_list_path, known=expression.index)
    rows = []
    for store in store_dirs:
        genes = read_table(Path(store) / "genes.tsv")
        for gene_id in genes["gene_id"].astype(str):
            data = load_gene(store, gene_id)
            y = expression.loc[gene_id, samples].to_numpy(dtype=np.float64)
            for repeat in sorted(split["repeat"].unique()):
                train_idx, _, _ = split_indices(split, samples, repeat=int(repeat))
                assessment = assess_gene(y, data.dosages, covariates, train_idx=train_idx)
                status, reason = decide(
                    assessment, gene_id=gene_id, mode=mode, p_max=p_max, gene_list=gene_list
                )
                rows.append(
                    {"gene_id": gene_id, "chrom": data.chrom, "tss": data.tss, "split": int(repeat)}
                    | {"n_variants": data.dosages.shape[1]}
                    | {k: assessment[k] for k in ("h2", "h2_se", "h2_p", "lrt_stat")}
                    | {"converged": assessment["converged"], "boundary": assessment["boundary"]}
                    | {"status": status, "reason": reason}
                )
    table = pd.DataFrame(rows).sort_values(["chrom", "tss", "gene_id", "split"])
    counts = table.groupby("status").size().to_dict()
    log.info("selection: %s", counts)
    if not counts.get("selected"):
        log.warning(no_gene_selected_message(counts, mode=mode, p_max=p_max, path=out_path))
    write_table(table, out_path)


def no_gene_selected_message(counts: Mapping[str, int], *, mode: str, p_max: float, path: str):
    """The warning when selection keeps no gene: every table downstream will have no rows."""
    found = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no genes"
    hint = (
        f" With select.mode 'reml' a gene needs a REML LRT p below select.p_max ({p_max:g}): "
        "raise it, or use select.mode 'all'."
        if mode == "reml" and counts.get("not_heritable")
        else ""
    )
    return (
        f"No gene was selected for training (gene x split rows: {found}); {path} gives each "
        f"gene's reason, and r2.tsv and the comparison tables will have no rows.{hint}"
    )


def read_gene_list(path: str | None, *, known: Sequence[str]) -> list[str]:
    """Gene ids from a one-column TSV (header ``gene_id``, or no header); all must be known."""
    if not path:
        raise InputError("select.mode is 'list' but select.gene_list is not set: give a TSV of ids")
    frame = pd.read_csv(path, sep="\t", header=None, dtype=str, comment="#")
    ids = [g.strip() for g in frame.iloc[:, 0] if g.strip() and g.strip() != "gene_id"]
    unknown = sorted(set(ids) - set(map(str, known)))
    if unknown:
        raise InputError(
            f"{path}: {len(unknown)} gene id(s) are not in the expression file, e.g. "
            f"{', '.join(unknown[:5])}; check the ids (version suffixes such as '.1' must match)"
        )
    return ids


def _gene_arrays(store_dir, gene_id, expression, samples):
    """One gene's stored window and its expression (n,) in cohort sample order."""
    return load_gene(store_dir, gene_id), expression.loc[gene_id, samples].to_numpy(np.float64)


def train(
    *,
    model_name: str,
    model_params: dict,
    gene_ids: Sequence[str],
    split: int,
    store_dir: str,
    samples_path: str,
    expression_path: str,
    covariates_path: str,
    split_path: str,
    window_bp: int,
    seed: int,
    threads: int,
    outputs: Sequence[Mapping[str, str]],
    out_table: str,
) -> None:
    """Train one model on each gene of a chunk (genes of one chromosome, ``store_dir``), one after
    another, and score it on the held-out individuals. Per gene, ``outputs`` names its record,
    held-out predictions, per-variant importance and model artefact (keys :data:`FIT_FILES`);
    ``out_table`` gets one row per gene: gene_id, status, reason and those four paths (what
    :func:`twasnet.io.store.chunk_fit_paths` reads). Each gene's result depends on the gene alone
    (its seed is the gene's), not on the chunk it ran in. A gene whose fit raises an error is
    recorded with status ``failed`` and the error as its reason (traceback in the log) and the
    chunk goes on; out of memory still fails the chunk, so that Snakemake retries it with more
    memory."""
    # The first line before anything is read, and one line as each gene starts and ends (each
    # flushed as written): a job killed (kill -9, a cluster's time limit) leaves a log that
    # says what it was doing and how far it got.
    log.info(
        "training %s on %d gene(s) of the cis store %s, split %d: %s",
        model_name,
        len(gene_ids),
        store_dir,
        split,
        ", ".join(gene_ids),
    )
    if len(outputs) != len(gene_ids):
        raise ValueError(f"{len(gene_ids)} genes but {len(outputs)} sets of outputs")
    samples = read_table(samples_path)["sample"].astype(str).tolist()
    expression, covariates = _cohort_arrays(expression_path, covariates_path, samples)
    train_idx, test_idx, folds = split_indices(read_table(split_path), samples, repeat=split)
    load = gene_loader(store_dir)
    rows = []
    for k, (gene_id, out) in enumerate(zip(gene_ids, outputs, strict=True), start=1):
        log.info(
            "%s %s split %d: gene %d of %d, fitting", model_name, gene_id, split, k, len(gene_ids)
        )
        try:
            data = load(gene_id)
            result = train_gene(
                model_name=model_name,
                model_params=model_params,
                gene_id=gene_id,
                tss=data.tss,
                window_bp=window_bp,
                dosages=data.dosages,
                variants=data.variants,
                expression=expression.loc[gene_id, samples].to_numpy(np.float64),
                covariates=covariates,
                samples=samples,
                train_idx=train_idx,
                test_idx=test_idx,
                train_folds=folds,
                split=split,
                seed=seed,
                threads=threads,
            )
        except Exception as err:  # noqa: BLE001 - one gene's failure must not stop the others
            if _out_of_memory(err):
                raise
            log.exception("%s %s split %d failed", model_name, gene_id, split)
            result = failed_result(
                model_name=model_name,
                gene_id=gene_id,
                split=split,
                seed=seed,
                reason=f"error: {type(err).__name__}: {err}".replace("\n", " ")[:500],
                samples=samples,
                test_idx=test_idx,
                n_train=len(train_idx),
            )
        record = result.record
        log.info("%s %s split %d: %s", model_name, gene_id, split, record["status"])
        write_table(result.predictions, out["predictions"])
        write_table(result.importance, out["importance"])
        artefact = result.artefact or {"model": model_name, "gene_id": gene_id}
        write_artefact(artefact, out["artefact"])
        write_json(record, out["record"])
        rows.append({"gene_id": gene_id, "status": record["status"], "reason": record["reason"]})
        rows[-1] |= {kind: out[kind] for kind in FIT_FILES}
    write_table(pd.DataFrame(rows, columns=["gene_id", "status", "reason", *FIT_FILES]), out_table)


def _out_of_memory(err: BaseException) -> bool:
    """Host or CUDA out of memory: a resource problem of the job, not of the gene."""
    return isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError"


def selected_training_inputs(
    *,
    split: int,
    selection_path: str,
    store_dirs: Sequence[str],
    samples_path: str,
    expression_path: str,
    covariates_path: str,
    split_path: str,
    window_bp: int,
    seed: int,
    threads: int = 1,
) -> list[tuple[str, TrainingInputs]]:
    """``(gene_id, training inputs)`` of every gene selected for ``split`` that has variants, in
    selection order: the training individuals' dosages, covariate-adjusted expression (covariate
    effects fit on them) and per-variant features -- what the across-gene priors are fit on."""
    samples = read_table(samples_path)["sample"].astype(str).tolist()
    expression, covariates = _cohort_arrays(expression_path, covariates_path, samples)
    train_idx, _, folds = split_indices(read_table(split_path), samples, repeat=split)
    chosen = selected_genes(selection_path)
    chosen = chosen[chosen["split"] == split]
    store_of = {Path(d).name: d for d in store_dirs}
    out = []
    for gene_id, chrom in zip(chosen["gene_id"], chosen["chrom"], strict=True):
        data, y = _gene_arrays(store_of[str(chrom)], gene_id, expression, samples)
        if data.dosages.shape[1] == 0:
            continue
        inputs = training_inputs(
            dosages=data.dosages,
            variants=data.variants,
            adjusted=residualise(y, covariates, train_idx=train_idx),
            train_idx=train_idx,
            train_folds=folds,
            tss=data.tss,
            window_bp=window_bp,
            seed=seed,
            threads=threads,
            gene_id=gene_id,
        )
        out.append((gene_id, inputs))
    return out


def fit_prior(
    *,
    model_name: str,
    model_params: dict,
    split: int,
    selection_path: str,
    store_dirs: Sequence[str],
    samples_path: str,
    expression_path: str,
    covariates_path: str,
    split_path: str,
    window_bp: int,
    seed: int,
    threads: int,
    out_path: str,
) -> None:
    """Fit a model's across-gene annotation prior on the training individuals of one split, over
    every gene selected for that split, as the model's catalogue entry says
    (:class:`twasnet.models.registry.PriorSpec`)."""
    genes = selected_training_inputs(
        split=split,
        selection_path=selection_path,
        store_dirs=store_dirs,
        samples_path=samples_path,
        expression_path=expression_path,
        covariates_path=covariates_path,
        split_path=split_path,
        window_bp=window_bp,
        seed=seed,
        threads=threads,
    )
    if not genes:
        raise InputError(
            f"no gene is selected for split {split}, so the {model_name} prior cannot be fitted; "
            "relax select.p_max or remove the annotation models from `models`"
        )
    log.info("%s prior, split %d: %d genes", model_name, split, len(genes))
    spec = MODELS[model_name].prior
    if spec is None:
        raise ValueError(f"model {model_name!r} has no across-gene prior")
    spec.save(spec.fit(genes, model_params, seed, threads), out_path)


# r2.tsv: everything of the record that is a number or a status, and nothing that varies between
# identical runs (fit time, device), so reruns of one config give byte-identical tables.
R2_COLUMNS = [
    f
    for f in RECORD_FIELDS
    if f not in ("hyperparameters", "seed", "fit_seconds", "device", "twasnet_version")
]


def aggregate(*, record_paths: Sequence[str], out_r2: str, out_times: str) -> None:
    """Collect result records into the long R² table (deterministic order and bytes) and a
    separate table of fit times (which vary between runs)."""
    records = [read_json(p) for p in record_paths]
    if not records:
        log.warning(
            "No gene has a fitted model: %s has no rows (no gene was selected; "
            "results/genes/selection.tsv gives each gene's reason).",
            out_r2,
        )
    frame = pd.DataFrame(
        records, columns=list(dict.fromkeys(R2_COLUMNS + ["fit_seconds", "device"]))
    )
    frame = frame.sort_values(["model", "split", "gene_id"], kind="stable")
    write_table(frame[R2_COLUMNS], out_r2)
    write_table(frame[["gene_id", "model", "split", "fit_seconds", "device"]], out_times)


def evaluate_against_truth(
    *,
    selection_path: str,
    r2_path: str,
    truth_genes_path: str,
    truth_variants_path: str | None,
    importance_paths: Sequence[str],
    out_genes: str,
    out_importance: str,
) -> None:
    """Score results against a simulation's truth: per gene, selection and held-out R² beside the
    true h² components; per gene × model × split, how well the model's |importance| ranks the
    gene's causal variants (AUROC and average precision)."""
    truth = pd.read_csv(truth_genes_path, sep="\t")
    selection = read_table(selection_path)
    r2 = read_table(r2_path)
    wide = r2.pivot_table(index=["gene_id", "split"], columns="model", values="r2_pearson")
    wide.columns = [f"r2_{c}" for c in wide.columns]
    table = selection.merge(
        truth[["gene_id", "h2_total", "h2_linear", "h2_nonlinear"]], on="gene_id", how="left"
    ).merge(wide.reset_index(), on=["gene_id", "split"], how="left")
    write_table(table, out_genes)
    columns = ["gene_id", "model", "split", "n_variants", "n_causal", "auroc", "average_precision"]
    rows = []
    if truth_variants_path:
        causal = pd.read_csv(truth_variants_path, sep="\t")
        causal = causal[causal["causal"] == 1].assign(
            chrom=lambda t: t["chrom"].astype(str).map(canonical_chrom)
        )
        for path in sorted(importance_paths):
            gene_id, model, split = fit_key(path)
            importance = read_table(path)
            if importance.empty:
                continue
            keys = causal.loc[causal["gene_id"] == gene_id, ["chrom", "pos", "ref", "alt"]]
            is_causal = (
                importance.assign(chrom=importance["chrom"].astype(str))
                .merge(keys.assign(hit=1), on=["chrom", "pos", "ref", "alt"], how="left")["hit"]
                .fillna(0)
            )
            rows.append(
                {"gene_id": gene_id, "model": model, "split": split}
                | importance_ranking(is_causal.to_numpy(), importance["importance"].to_numpy())
            )
    frame = pd.DataFrame(rows, columns=columns).sort_values(["model", "split", "gene_id"])
    write_table(frame, out_importance)


def compare(
    *,
    r2_path: str,
    pairs: Sequence[Sequence[str]],
    models: Sequence[str],
    metric: str,
    alternative: str,
    alpha: float,
    n_bootstrap: int,
    seed: int,
    out_comparison: str,
    out_markdown: str,
    out_html: str,
    out_genes: str,
    out_dropped: str,
    out_wide_tsv: str,
    out_wide_parquet: str,
) -> None:
    """Compare every configured pair of models across genes (see :mod:`twasnet.compare`) and write
    the comparison (TSV, Markdown, HTML), its per-gene values and left-out genes, and the wide
    gene × model R² table."""
    from twasnet.compare import compare_models, run_pairs, wide_table
    from twasnet.report import comparison_html, comparison_markdown, comparison_notes

    r2 = read_table(r2_path)
    r2["gene_id"] = r2["gene_id"].astype(str)
    r2["status"] = r2["status"].astype(object)  # read as float when r2.tsv has no rows
    chosen = run_pairs(pairs, models)
    skipped = [f"{a} vs {b}" for a, b in pairs if (str(a), str(b)) not in chosen]
    if skipped:
        log.info("pairs not compared (model not run): %s", ", ".join(skipped))
    comparison, genes, dropped = compare_models(
        r2,
        pairs=chosen,
        alternative=alternative,
        alpha=alpha,
        n_bootstrap=n_bootstrap,
        seed=seed,
        metric=metric,
    )
    for row in comparison.itertuples():
        log.info(
            "%s vs %s: %d genes, mean delta %.4f, Wilcoxon p %.3g (Holm %.3g)",
            row.model_a,
            row.model_b,
            row.n_genes,
            row.mean_delta,
            row.wilcoxon_p,
            row.wilcoxon_p_holm,
        )
    notes = comparison_notes(
        metric=metric,
        alternative=alternative,
        alpha=alpha,
        n_bootstrap=n_bootstrap,
        skipped=skipped,
    )
    if not r2["status"].eq("ok").any():
        empty = f"No gene has a valid held-out result in {r2_path} ({len(r2)} rows), so no pair is "
        empty += "compared and the comparison tables have no rows (see its status and reason "
        empty += "columns, and results/genes/selection.tsv for genes never trained)."
        log.warning(empty)
        notes.append(empty)
        comparison = comparison.iloc[0:0]
    wide = wide_table(r2, models=models, metric=metric)
    write_table(comparison, out_comparison)
    write_table(genes, out_genes)
    write_table(dropped, out_dropped)
    write_table(wide, out_wide_tsv)
    write_table(wide, out_wide_parquet)
    for text, path in (
        (comparison_markdown(comparison, dropped, notes=notes), out_markdown),
        (comparison_html(comparison, dropped, notes=notes), out_html),
    ):
        with atomic_output(path) as tmp:
            tmp.write_text(text)


def compare_per_gene(
    *,
    prediction_paths: Sequence[str],
    pairs: Sequence[Sequence[str]],
    models: Sequence[str],
    alpha: float,
    n_bootstrap: int,
    seed: int,
    out_path: str,
) -> None:
    """Per gene and pair: is the difference in held-out R² significant for this gene, by a paired
    bootstrap over held-out individuals of the stored predictions."""
    from twasnet.compare import per_gene_comparison, run_pairs

    predictions = {}
    for path in prediction_paths:
        gene_id, model, split = fit_key(path)
        predictions[(model, gene_id, split)] = read_table(path)
    table = per_gene_comparison(
        predictions, pairs=run_pairs(pairs, models), alpha=alpha, n_bootstrap=n_bootstrap, seed=seed
    )
    write_table(table, out_path)


def plot_comparison(
    *,
    genes_path: str,
    wide_path: str,
    selection_path: str,
    importance_paths: Sequence[str],
    truth_genes_path: str | None,
    truth_variants_path: str | None,
    pairs: Sequence[Sequence[str]],
    models: Sequence[str],
    top_genes: int,
    seed: int,
    out: dict[str, str],
) -> None:
    """Draw the comparison figures; ``out`` maps ``<figure>_png``/``<figure>_svg`` to paths for
    the figures ``pairs``, ``delta``, ``h2`` and ``importance``."""
    from twasnet.compare import run_pairs
    from twasnet.plots import (
        delta_figure,
        h2_figure,
        importance_figure,
        pair_scatter_figure,
        save_figure,
    )

    chosen = run_pairs(pairs, models)
    genes = read_table(genes_path)
    wide = read_table(wide_path)
    selection = read_table(selection_path)
    estimated = selection.groupby(selection["gene_id"].astype(str))["h2"].mean()
    simulated = causal = None
    if truth_genes_path:
        truth = pd.read_csv(truth_genes_path, sep="\t")
        simulated = truth.set_index(truth["gene_id"].astype(str))["h2_total"]
    if truth_variants_path:
        variants = pd.read_csv(truth_variants_path, sep="\t")
        variants = variants[variants["causal"] == 1]
        causal = {str(g): t["pos"].to_numpy() for g, t in variants.groupby("gene_id")}
    shown = top_gene_ids(wide, models=models, per_model=top_genes)
    tracks = {}
    for path in importance_paths:
        gene_id, model, split = fit_key(path)
        if gene_id in shown and split == min(selection["split"]):
            tracks[(gene_id, model)] = read_table(path)
    tss = selection.drop_duplicates("gene_id").set_index("gene_id")["tss"].to_dict()
    figures = {
        "pairs": pair_scatter_figure(genes, chosen),
        "delta": delta_figure(genes, chosen, seed=seed),
        "h2": h2_figure(wide, models=models, estimated=estimated, simulated=simulated),
        "importance": importance_figure(tracks, genes=shown, models=models, tss=tss, causal=causal),
    }
    for name, fig in figures.items():
        save_figure(fig, png=out[f"{name}_png"], svg=out[f"{name}_svg"])


def top_gene_ids(wide: pd.DataFrame, *, models: Sequence[str], per_model: int) -> list[str]:
    """The ``per_model`` genes of highest held-out R² for each model, in model order, no repeats."""
    shown: list[str] = []
    for model in models:
        column = wide[["gene_id", f"r2_{model}"]].dropna()
        top = column.sort_values([f"r2_{model}", "gene_id"], ascending=[False, True], kind="stable")
        for gene_id in top["gene_id"].astype(str).head(per_model):
            if gene_id not in shown:
                shown.append(gene_id)
    return shown


def summarise_setup(
    *,
    cohort_summary_path: str,
    split_path: str,
    selection_path: str,
    r2_path: str,
    provenance_path: str,
    config: dict,
    out_html: str,
) -> None:
    """Write the run's setup (cohort sizes, split, genes kept/dropped, models, grids, seeds) and
    its provenance (versions, commit, machine, input checksums) as an HTML page for the report."""
    from twasnet.report import html_page, html_table, provenance_tables, setup_tables

    tables = setup_tables(
        cohort_counts=read_json(cohort_summary_path)["counts"],
        split=read_table(split_path),
        selection=read_table(selection_path),
        r2=read_table(r2_path),
        config=config,
    )
    tables += provenance_tables(read_json(provenance_path))
    page = html_page("Setup of this run", [(t, html_table(f)) for t, f in tables])
    with atomic_output(out_html) as tmp:
        tmp.write_text(page)
