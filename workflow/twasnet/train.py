"""Training one model on one gene and scoring it on the held-out individuals."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twasnet import __version__
from twasnet.adjust import residualise
from twasnet.errors import GeneSkipped
from twasnet.metrics import prediction_metrics
from twasnet.models.features import annotation_features
from twasnet.models.registry import TrainingInputs, make_model

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
    *,
    dosages: np.ndarray,
    variants: pd.DataFrame,
    adjusted: np.ndarray,
    train_idx: np.ndarray,
    train_folds: np.ndarray,
    tss: int,
    window_bp: int,
    seed: int,
    threads: int = 1,
    gene_id: str = "",
) -> TrainingInputs:
    """The training rows of one gene as a model sees them: ``dosages`` (n, p) and covariate-
    adjusted expression ``adjusted`` (n,) restricted to ``train_idx``, plus per-variant features."""
    return TrainingInputs(
        x=dosages[train_idx],
        y=adjusted[train_idx],
        folds=train_folds,
        variants=variants,
        features=annotation_features(variants, tss=tss, window_bp=window_bp),
        seed=seed,
        threads=threads,
        gene_id=gene_id,
    )


def train_gene(
    *,
    model_name: str,
    model_params: dict,
    gene_id: str,
    tss: int,
    window_bp: int,
    dosages: np.ndarray,
    variants: pd.DataFrame,
    expression: np.ndarray,
    covariates: np.ndarray,
    samples: list[str],
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    train_folds: np.ndarray,
    split: int,
    seed: int,
    threads: int = 1,
) -> TrainResult:
    """Fit ``model_name`` for one gene on training individuals and score it on held-out ones.

    ``dosages`` (n, p), ``expression`` (n,) and ``covariates`` (n, k) cover all cohort ``samples``;
    covariates are regressed out with coefficients fit on ``train_idx`` only, and the model never
    sees a row of ``test_idx`` before prediction. A gene that cannot be modelled gives a record with
    ``status`` "skipped" and its reason instead of an exception.
    """
    this_seed = gene_seed(seed, gene_id, split)
    record = _new_record(
        model_name=model_name,
        gene_id=gene_id,
        split=split,
        seed=seed,
        n_train=len(train_idx),
        n_test=len(test_idx),
    )
    record["n_variants"] = int(dosages.shape[1])
    y = residualise(np.asarray(expression, dtype=np.float64), covariates, train_idx=train_idx)
    empty_importance = pd.DataFrame(columns=[*VARIANT_KEY, "importance"])
    try:
        if dosages.shape[1] == 0:
            raise GeneSkipped("no_variants", "no variant passed the filters in the window")
        if np.ptp(np.asarray(expression)[train_idx]) == 0:
            raise GeneSkipped("constant_expression", "expression is constant in training")
        model = make_model(model_name, model_params)
        inputs = training_inputs(
            dosages=dosages,
            variants=variants,
            adjusted=y,
            train_idx=train_idx,
            train_folds=train_folds,
            tss=tss,
            window_bp=window_bp,
            seed=this_seed,
            threads=threads,
            gene_id=gene_id,
        )
        start = time.perf_counter()
        model.fit(inputs)
        record["fit_seconds"] = time.perf_counter() - start
        predicted = np.asarray(model.predict(dosages[test_idx]), dtype=np.float64)
    except GeneSkipped as skipped:
        record |= {"status": "skipped", "reason": str(skipped)}
        return TrainResult(record, _predictions(samples, test_idx, y, None), empty_importance, None)
    record |= prediction_metrics(y[test_idx], predicted)
    record |= {
        "status": "ok",
        "reason": "",
        "n_nonzero": model.n_nonzero(),
        "hyperparameters": model.hyperparameters(),
        "device": getattr(model, "device_name", "cpu"),
    }
    importance = variants[list(VARIANT_KEY)].copy()
    importance["importance"] = model.importance()
    artefact = {
        "model": model_name,
        "gene_id": gene_id,
        "split": split,
        "tss": int(tss),
        "twasnet_version": __version__,
        "variants": variants[["chrom", "pos", "variant_id", "ref", "alt"]].to_dict(orient="list"),
        "state": model.state(),
        # per-variant mean dosage of the training individuals: the value a prediction into a new
        # cohort imputes for a model variant that cohort lacks (twasnet.predict)
        "dosage_mean": np.asarray(dosages[train_idx], dtype=np.float64).mean(axis=0),
    }
    return TrainResult(record, _predictions(samples, test_idx, y, predicted), importance, artefact)


def failed_result(
    *,
    model_name: str,
    gene_id: str,
    split: int,
    seed: int,
    reason: str,
    samples: list[str],
    test_idx: np.ndarray,
    n_train: int,
) -> TrainResult:
    """The result of a gene whose fit raised an error: status "failed" and ``reason``, no
    predictions (NaN for the held-out individuals), no importance, no artefact."""
    record = _new_record(
        model_name=model_name,
        gene_id=gene_id,
        split=split,
        seed=seed,
        n_train=n_train,
        n_test=len(test_idx),
    )
    record |= {"status": "failed", "reason": reason}
    nan = np.full(len(samples), np.nan)
    return TrainResult(
        record,
        _predictions(samples, test_idx, nan, None),
        pd.DataFrame(columns=[*VARIANT_KEY, "importance"]),
        None,
    )


def _new_record(
    *, model_name: str, gene_id: str, split: int, seed: int, n_train: int, n_test: int
) -> dict:
    return dict.fromkeys(RECORD_FIELDS) | {
        "gene_id": gene_id,
        "model": model_name,
        "split": split,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "seed": gene_seed(seed, gene_id, split),
        "device": "cpu",
        "twasnet_version": __version__,
        "hyperparameters": {},
    }


def _predictions(samples, test_idx, y, predicted) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample": [samples[i] for i in test_idx],
            "observed": y[test_idx],
            "predicted": np.nan if predicted is None else predicted,
        }
    )
