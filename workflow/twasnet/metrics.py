"""The one definition of held-out prediction accuracy."""

from __future__ import annotations

import numpy as np


def prediction_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy of predictions ``y_pred`` (n,) of observed ``y_true`` (n,).

    - ``r2_pearson``: squared Pearson correlation (the TWAS convention; scale-free);
    - ``r2_sse``: 1 - SSE/SST with SST around the mean of ``y_true`` (can be negative);
    - ``pearson_r`` and its two-sided ``pearson_p``.

    A constant prediction (e.g. an elastic net with no variant selected) has no defined
    correlation; it is scored r = 0, p = 1, R² = 0: it explains nothing.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"shapes differ or are not 1-D: {y_true.shape} vs {y_pred.shape}")
    if y_true.size < 3:
        raise ValueError("at least 3 held-out individuals are needed to score a prediction")
    sst = float(np.sum((y_true - y_true.mean()) ** 2))
    sse = float(np.sum((y_true - y_pred) ** 2))
    r2_sse = 1.0 - sse / sst if sst > 0 else float("nan")
    if np.ptp(y_pred) == 0 or sst == 0:
        r, p = 0.0, 1.0
    else:
        from scipy import stats  # here: scipy.stats costs ~1.5 s to import, in every workflow job

        res = stats.pearsonr(y_true, y_pred)
        r, p = float(res.statistic), float(res.pvalue)
    return {"r2_pearson": r * r, "r2_sse": r2_sse, "pearson_r": r, "pearson_p": p}


def importance_ranking(is_causal: np.ndarray, importance: np.ndarray) -> dict[str, float]:
    """How well ``|importance|`` (p,) ranks the causal variants (``is_causal`` (p,) 0/1).

    Returns ``n_variants``, ``n_causal``, ``auroc`` and ``average_precision`` (scikit-learn's);
    the scores are NaN when the window holds no causal or only causal variants.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray(is_causal, dtype=int)
    scores = np.abs(np.asarray(importance, dtype=np.float64))
    n_causal = int(labels.sum())
    out = {"n_variants": int(labels.size), "n_causal": n_causal}
    if n_causal == 0 or n_causal == labels.size:
        return out | {"auroc": float("nan"), "average_precision": float("nan")}
    return out | {
        "auroc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
    }


def squared_correlation(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Squared Pearson correlation along the last axis of ``y`` and ``pred`` (..., n), the
    ``r2_pearson`` of :func:`prediction_metrics` for many resamples at once
    (0 where a prediction or observation is constant, as there)."""
    y = y - y.mean(axis=-1, keepdims=True)
    pred = pred - pred.mean(axis=-1, keepdims=True)
    sxy = (y * pred).sum(axis=-1)
    sxx = (y * y).sum(axis=-1)
    syy = (pred * pred).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = sxy * sxy / (sxx * syy)
    return np.where((sxx > 0) & (syy > 0), r2, 0.0)
