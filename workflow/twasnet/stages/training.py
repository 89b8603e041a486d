"""Training stages: one model on a chunk of genes of one chromosome (one gene after another, each
scored on the held-out individuals), and the across-gene annotation priors some models share."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from twasnet.adjust import residualise
from twasnet.cohort import Cohort, CohortFiles
from twasnet.errors import InputError
from twasnet.io.store import (
    FIT_FILES,
    GeneData,
    gene_loader,
    stores_loader,
    write_artefact,
    write_json,
    write_table,
)
from twasnet.models.registry import MODELS, TrainingInputs
from twasnet.select import selected_genes
from twasnet.train import TrainResult, failed_result, train_gene, train_genes, training_inputs

log = logging.getLogger("twasnet")


def train(
    *,
    model_name: str,
    model_params: dict,
    gene_ids: Sequence[str],
    split: int,
    store_dir: str,
    cohort_files: CohortFiles,
    window_bp: int,
    seed: int,
    threads: int,
    outputs: Sequence[Mapping[str, str]],
    out_table: str,
) -> None:
    """Train one model on each gene of a chunk (genes of one chromosome, ``store_dir``), one after
    another or :func:`genes_per_fit` at a time, and score it on the held-out individuals. Per
    gene, ``outputs`` names its record, held-out predictions, per-variant importance and model
    artefact (keys :data:`FIT_FILES`); ``out_table`` gets one row per gene: gene_id, status,
    reason and those four paths (what :func:`twasnet.io.store.chunk_fit_paths` reads). Each
    gene's result depends on the gene alone (its seed is the gene's), not on the chunk or batch
    it ran in. A gene whose fit raises an error is recorded with status ``failed`` and the error
    as its reason (traceback in the log) and the chunk goes on; out of memory still fails the
    chunk, so that Snakemake retries it with more memory."""
    # The first line before anything is read, and one line as each batch starts and each gene
    # ends (each flushed as written): a job killed (kill -9, a cluster's time limit) leaves a log
    # that says what it was doing and how far it got.
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
    cohort = cohort_files.load(split)
    load = gene_loader(store_dir)
    fit = {"model_name": model_name, "model_params": model_params, "window_bp": window_bp}
    fit |= {"seed": seed, "threads": threads}
    size = genes_per_fit(model_name, model_params, len(gene_ids))
    rows, jobs = [], list(zip(gene_ids, outputs, strict=True))
    for start in range(0, len(jobs), size):
        batch = jobs[start : start + size]
        ids = [gene_id for gene_id, _ in batch]
        _log_start(model_name, split, ids, first=start + 1, total=len(jobs))
        results = _train_batch(load, ids, cohort, **fit)
        for (gene_id, out), result in zip(batch, results, strict=True):
            log.info("%s %s split %d: %s", model_name, gene_id, split, result.record["status"])
            _write_fit(result, out)
            rows.append({"gene_id": gene_id} | {k: result.record[k] for k in ("status", "reason")})
            rows[-1] |= {kind: out[kind] for kind in FIT_FILES}
    write_table(pd.DataFrame(rows, columns=["gene_id", "status", "reason", *FIT_FILES]), out_table)


def _log_start(model_name: str, split: int, ids: list[str], *, first: int, total: int) -> None:
    """One line as a gene (or a batch of genes fitted together) starts."""
    if len(ids) == 1:
        log.info("%s %s split %d: gene %d of %d, fitting", model_name, ids[0], split, first, total)
        return
    last = first + len(ids) - 1
    message = "%s split %d: genes %d-%d of %d, fitting together: %s"
    log.info(message, model_name, split, first, last, total, ", ".join(ids))


def genes_per_fit(model_name: str, model_params: dict, n_genes: int) -> int:
    """How many of a chunk's ``n_genes`` genes one fit trains together: as the model's catalogue
    entry says (:attr:`ModelSpec.together`; the deep models' ``batch_genes``), else 1."""
    together = MODELS[model_name].together
    return 1 if together is None else together.size(model_params, n_genes)


def _train_batch(load, gene_ids: Sequence[str], cohort: Cohort, **fit) -> list[TrainResult]:
    """:func:`twasnet.train.train_genes` on genes of the store fitted together; if that raises an
    error other than out of memory, each gene alone (:func:`_train_or_fail`), so that one gene's
    error is recorded against it and the others' results are the same as in the batch."""
    if len(gene_ids) > 1:
        try:
            return train_genes((load(g) for g in gene_ids), cohort, **fit)
        except Exception as err:  # noqa: BLE001 - retried gene by gene, which records the error
            if _out_of_memory(err):
                raise
            log.warning(
                "%s: fitting %d genes together failed (%s: %s); fitting them one at a time",
                fit["model_name"],
                len(gene_ids),
                type(err).__name__,
                err,
            )
    return [_train_or_fail(load, g, cohort, **fit) for g in gene_ids]


def _train_or_fail(
    load: Callable[[str], GeneData],
    gene_id: str,
    cohort: Cohort,
    *,
    model_name: str,
    seed: int,
    **fit,
) -> TrainResult:
    """:func:`twasnet.train.train_gene` on one gene of the store, or, when loading or fitting it
    raises an error other than out of memory, its ``failed`` result (traceback in the log).
    ``fit``: the other keyword arguments of ``train_gene``."""
    try:
        return train_gene(load(gene_id), cohort, model_name=model_name, seed=seed, **fit)
    except Exception as err:  # noqa: BLE001 - one gene's failure must not stop the others
        if _out_of_memory(err):
            raise
        log.exception("%s %s split %d failed", model_name, gene_id, cohort.split)
        return failed_result(
            gene_id,
            cohort,
            model_name=model_name,
            seed=seed,
            reason=f"error: {type(err).__name__}: {err}".replace("\n", " ")[:500],
        )


def _write_fit(result: TrainResult, out: Mapping[str, str]) -> None:
    """A gene's four fit files (keys :data:`FIT_FILES` of ``out``); without a fitted model the
    artefact names only the model and gene."""
    record = result.record
    write_table(result.predictions, out["predictions"])
    write_table(result.importance, out["importance"])
    artefact = result.artefact or {"model": record["model"], "gene_id": record["gene_id"]}
    write_artefact(artefact, out["artefact"])
    write_json(record, out["record"])


def _out_of_memory(err: BaseException) -> bool:
    """Host or CUDA out of memory: a resource problem of the job, not of the gene."""
    return isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError"


def selected_training_inputs(
    *,
    split: int,
    selection_path: str,
    store_dirs: Sequence[str],
    cohort_files: CohortFiles,
    window_bp: int,
    seed: int,
    threads: int = 1,
) -> list[tuple[str, TrainingInputs]]:
    """``(gene_id, training inputs)`` of every gene selected for ``split`` that has variants, in
    selection order: the training individuals' dosages, covariate-adjusted expression (covariate
    effects fit on them) and per-variant features -- what the across-gene priors are fit on."""
    cohort = cohort_files.load(split)
    chosen = selected_genes(selection_path)
    chosen = chosen[chosen["split"] == split]
    load = stores_loader(store_dirs)
    out = []
    for gene_id, chrom in zip(chosen["gene_id"], chosen["chrom"], strict=True):
        gene, y = load(chrom, gene_id), cohort.expression_of(gene_id)
        if gene.dosages.shape[1] == 0:
            continue
        adjusted = residualise(y, cohort.covariates, train_idx=cohort.train_idx)
        inputs = training_inputs(
            gene, adjusted, cohort, window_bp=window_bp, seed=seed, threads=threads
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
    cohort_files: CohortFiles,
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
        cohort_files=cohort_files,
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
