"""Covariate adjustment and standardisation, always fitted on training individuals only."""

from __future__ import annotations

import numpy as np


def residualise(y: np.ndarray, covariates: np.ndarray, *, train_idx: np.ndarray) -> np.ndarray:
    """Remove covariate effects from ``y`` (n,) with an OLS fit (intercept + ``covariates`` (n, k))
    on the training rows ``train_idx`` only; the same coefficients are applied to every row.

    Returns the residuals (n,). Held-out rows never influence the coefficients.
    """
    design = _with_intercept(covariates)
    coef, *_ = np.linalg.lstsq(design[train_idx], y[train_idx], rcond=None)
    return y - design @ coef


# A column whose sd is below this fraction of (|mean| + 1) is constant (float noise, not signal).
CONSTANT_SD_RTOL = 1e-10


def is_constant(mean, sd):
    """Elementwise: does a column (or vector) with this ``mean`` and ``sd`` count as constant?"""
    return ~(np.asarray(sd) > CONSTANT_SD_RTOL * (np.abs(mean) + 1.0))


def standardisation(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and population standard deviations (p,) of ``x_train`` (n, p).

    Columns that are constant in the training data (:func:`is_constant`) get sd = inf, so they
    standardise to 0.
    """
    mean = x_train.mean(axis=0, dtype=np.float64)
    sd = x_train.std(axis=0, dtype=np.float64)
    sd[is_constant(mean, sd)] = np.inf
    return mean, sd


def standardise(x: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``(x - mean) / sd`` as float64; x is (n, p), mean and sd are (p,)."""
    return (np.asarray(x, dtype=np.float64) - mean) / sd


def _with_intercept(covariates: np.ndarray) -> np.ndarray:
    """(n, k) -> (n, k + 1) with a leading column of ones; k may be 0."""
    return np.column_stack([np.ones(covariates.shape[0]), covariates])
