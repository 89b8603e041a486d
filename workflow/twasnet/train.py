"""Training one model on genes, one at a time or together, and scoring each on the held-out
individuals."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twasnet import __version__
from twasnet.adjust import residualise
from twasnet.cohort import Cohort
from twasnet.errors import GeneSkipped
from twasnet.io.store import GeneData
from twasnet.metrics import prediction_metrics
from twasnet.models.features import annotation_features
from twasnet.models.registry import TrainingInputs, begin_fit, finish_fits, make_model

VARIANT_KEY = ("chrom", "pos", "ref", "alt")

RECORD_FIELDS = (
    "gene_id",
    "model",
    "split",
    "status",
    "reason",
    "r2_pearson",
    "r2_sse",
    "pearson_r",
    "pearson_p",
    "n_train",
    "n_test",
    "n_variants",
    "n_nonzero",
    "hyperparameters",
    "seed",
    "fit_seconds",
    "device",
    "twasnet_version",
)


@dataclass(frozen=True)
class TrainResult:
    """``record``: the result record (keys :data:`RECORD_FIELDS`); ``predictions``: held-out
    individuals with observed and predicted adjusted expression; ``importance``: one row per
    variant with the model's importance score; ``artefact``: everything needed to predict from new
    genotypes (model name, the estimator's ``state()``, the variant list with alleles), or None
    when the gene was not modelled."""

    record: dict
    predictions: pd.DataFrame
    importance: pd.DataFrame
    artefact: dict | None


def gene_seed(seed: int, gene_id: str, split: int) -> int:
    """A per-(gene, split) seed derived from the run seed; stable across machines and runs."""
    state = np.random.SeedSequence([seed, zlib.crc32(gene_id.encode()), split]).generate_state(1)
    return int(state[0])


def training_inputs(
    gene: GeneData,
    adjusted: np.ndarray,
    cohort: Cohort,
    *,
    window_bp: int,
    seed: int,
    threads: int = 1,
) -> TrainingInputs:
    """The training rows of one gene as a model sees them: the gene's dosages (n, p) and its
    covariate-adjusted expression ``adjusted`` (n,) restricted to the cohort's training
    individuals (n_train rows), their inner folds, and per-variant features (p, d)."""
    return TrainingInputs(
        x=gene.dosages[cohort.train_idx],
        y=adjusted[cohort.train_idx],
        folds=cohort.folds,
        variants=gene.variants,
        features=annotation_features(gene.variants, tss=gene.tss, window_bp=window_bp),
        seed=seed,
        threads=threads,
        gene_id=gene.gene_id,
    )


def train_gene(gene: GeneData, cohort: Cohort, **fit) -> TrainResult:
    """Fit a model for one gene on the cohort's training individuals and score it on the
    held-out ones: :func:`train_genes` of this gene alone (``fit``: its keyword arguments)."""
    return train_genes([gene], cohort, **fit)[0]


def train_genes(
    genes: Iterable[GeneData],
    cohort: Cohort,
    *,
    model_name: str,
    model_params: dict,
    window_bp: int,
    seed: int,
    threads: int = 1,
) -> list[TrainResult]:
    """Fit ``model_name`` for each gene on the cohort's training individuals, together where the
    model fits several genes at once (:class:`twasnet.models.registry.TogetherSpec`: the deep
    models' encoders as one stack), and score each on the held-out individuals.

    ``gene.dosages`` (n, p) cover all n cohort samples, as does the gene's expression (n,) in
    ``cohort``; covariates (n, k) are regressed out with coefficients fit on the training
    individuals only, and the model never sees a held-out row before prediction. ``seed`` is the
    run's seed (each gene's own is derived from it). A gene that cannot be modelled gives a record
    with ``status`` "skipped" and its reason instead of an exception. ``genes`` are read one at a
    time, and a gene waiting for the others keeps only its held-out rows and what the model's
    second step needs. Genes fitted together share that step's time equally in ``fit_seconds``.
    """
    fit = {"model_name": model_name, "model_params": model_params, "window_bp": window_bp}
    results = [_begin(g, cohort, seed=seed, threads=threads, **fit) for g in genes]
    todo = [r for r in results if isinstance(r, _Pending)]
    start = time.perf_counter()
    finish_fits(model_name, [p.model for p in todo], [p.state for p in todo])
    shared = (time.perf_counter() - start) / max(len(todo), 1)
    return [_scored(r, cohort, shared) if isinstance(r, _Pending) else r for r in results]


@dataclass
class _Pending:
    """A gene whose fit has begun: its record, adjusted expression ``y`` (n,), model and the
    state its fit goes on from; what scoring needs: ``x_test`` (n_test, p), ``dosage_mean`` (p,)
    of the training individuals, the variants and TSS; and the seconds the fit took so far."""

    record: dict
    y: np.ndarray
    model: object
    state: object
    x_test: np.ndarray
    dosage_mean: np.ndarray
    variants: pd.DataFrame
    tss: int
    seconds: float


def _begin(
    gene: GeneData, cohort: Cohort, *, model_name, model_params, window_bp, seed, threads
) -> _Pending | TrainResult:
    """The gene's fit as far as it goes alone (:func:`begin_fit`), or its ``skipped`` result."""
    record = _new_record(model_name, gene.gene_id, cohort, seed=seed)
    record["n_variants"] = int(gene.dosages.shape[1])
    expression = cohort.expression_of(gene.gene_id)
    y = residualise(expression, cohort.covariates, train_idx=cohort.train_idx)
    try:
        if gene.dosages.shape[1] == 0:
            raise GeneSkipped("no_variants", "no variant passed the filters in the window")
        if np.ptp(expression[cohort.train_idx]) == 0:
            raise GeneSkipped("constant_expression", "expression is constant in training")
        own_seed = gene_seed(seed, gene.gene_id, cohort.split)
        inputs = training_inputs(
            gene, y, cohort, window_bp=window_bp, seed=own_seed, threads=threads
        )
        model = make_model(model_name, model_params)
        mean = np.asarray(inputs.x, dtype=np.float64).mean(axis=0)
        start = time.perf_counter()
        state = begin_fit(model_name, model, inputs)
        seconds = time.perf_counter() - start
    except GeneSkipped as skipped:
        record |= {"status": "skipped", "reason": str(skipped)}
        return TrainResult(record, _predictions(cohort, y, None), _no_importance(), None)
    x_test = gene.dosages[cohort.test_idx]
    return _Pending(record, y, model, state, x_test, mean, gene.variants, int(gene.tss), seconds)


def _scored(p: _Pending, cohort: Cohort, shared_seconds: float) -> TrainResult:
    """The fitted gene scored on the held-out individuals, with its importance and artefact."""
    model, record = p.model, p.record
    predicted = np.asarray(model.predict(p.x_test), dtype=np.float64)
    record["fit_seconds"] = p.seconds + shared_seconds
    record |= prediction_metrics(p.y[cohort.test_idx], predicted)
    record |= {
        "status": "ok",
        "reason": "",
        "n_nonzero": model.n_nonzero(),
        "hyperparameters": model.hyperparameters(),
        "device": getattr(model, "device_name", "cpu"),
    }
    importance = p.variants[list(VARIANT_KEY)].copy()
    importance["importance"] = model.importance()
    return TrainResult(
        record, _predictions(cohort, p.y, predicted), importance, _artefact(p, cohort)
    )


def _artefact(p: _Pending, cohort: Cohort) -> dict:
    """Everything needed to predict the gene's expression from new genotypes."""
    variants = p.variants[["chrom", "pos", "variant_id", "ref", "alt"]]
    return {
        "model": p.record["model"],
        "gene_id": p.record["gene_id"],
        "split": cohort.split,
        "tss": p.tss,
        "twasnet_version": __version__,
        "variants": variants.to_dict(orient="list"),
        "state": p.model.state(),
        # per-variant mean dosage of the training individuals: the value a prediction into a new
        # cohort imputes for a model variant that cohort lacks (twasnet.predict)
        "dosage_mean": p.dosage_mean,
    }


def failed_result(
    gene_id: str, cohort: Cohort, *, model_name: str, seed: int, reason: str
) -> TrainResult:
    """The result of a gene whose fit raised an error: status "failed" and ``reason``, no
    predictions (NaN for the held-out individuals), no importance, no artefact."""
    record = _new_record(model_name, gene_id, cohort, seed=seed)
    record |= {"status": "failed", "reason": reason}
    nan = np.full(len(cohort.samples), np.nan)
    return TrainResult(record, _predictions(cohort, nan, None), _no_importance(), None)


def _new_record(model_name: str, gene_id: str, cohort: Cohort, *, seed: int) -> dict:
    return dict.fromkeys(RECORD_FIELDS) | {
        "gene_id": gene_id,
        "model": model_name,
        "split": cohort.split,
        "n_train": len(cohort.train_idx),
        "n_test": len(cohort.test_idx),
        "seed": gene_seed(seed, gene_id, cohort.split),
        "device": "cpu",
        "twasnet_version": __version__,
        "hyperparameters": {},
    }


def _no_importance() -> pd.DataFrame:
    return pd.DataFrame(columns=[*VARIANT_KEY, "importance"])


def _predictions(cohort: Cohort, y: np.ndarray, predicted: np.ndarray | None) -> pd.DataFrame:
    """The held-out individuals (n_test rows): sample, observed ``y`` (n,) at their positions and
    ``predicted`` (n_test,), NaN when None."""
    test_idx = cohort.test_idx
    return pd.DataFrame(
        {
            "sample": [cohort.samples[i] for i in test_idx],
            "observed": y[test_idx],
            "predicted": np.nan if predicted is None else predicted,
        }
    )
