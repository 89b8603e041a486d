"""The parts a nested deep model adds to its elastic-net core, and the rules that keep them.

:func:`one_se_better` and :func:`smallest_within_se` are the inner-CV rules; :class:`Fold` is one
inner-CV fold's current predictions; :class:`TermFit` / :func:`fit_terms` the screened terms
fitted by least squares; :class:`EncoderFit`, :func:`encoder_folds` and :func:`encoder_data` the
conv encoder's inputs and fit; :class:`LinearCore` the core as a saved model reloads it. The
estimators that put them together are in :mod:`.nested`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from twasnet.adjust import standardisation
from twasnet.models.deep.loop import CVPlan
from twasnet.models.deep.networks import EncoderStack
from twasnet.models.terms import (
    ScreenGenotypes,
    Terms,
    candidates_by_rank,
    screen_terms,
    term_matrix,
)

__all__ = [
    "EncoderFit",
    "Fold",
    "LinearCore",
    "TermFit",
    "as_tensor",
    "encoder_data",
    "encoder_folds",
    "fit_terms",
    "one_se_better",
    "smallest_within_se",
]


def as_tensor(a: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float32)).to(device)


def one_se_better(base: np.ndarray, new: np.ndarray, *, n_se: float) -> tuple[bool, float, float]:
    """Is ``new`` (n,) squared errors better than ``base`` (n,) by more than ``n_se`` SE of the
    paired difference? Returns ``(better, mean gain, its SE)``."""
    diff = np.asarray(base, np.float64) - np.asarray(new, np.float64)
    if diff.size < 2:
        return False, 0.0, 0.0
    gain, se = float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(diff.size))
    return gain > n_se * se and gain > 0, gain, se


def smallest_within_se(errors: np.ndarray, *, n_se: float) -> int:
    """The fewest epochs whose errors (row of ``errors`` (E + 1, n)) are not worse than the
    lowest mean's by more than ``n_se`` paired SE: glmnet's ``lambda.1se`` for an epoch count,
    so 0 (no encoder) unless training clearly helps."""
    best = int(np.argmin(errors.mean(axis=1)))
    for e in range(best):
        if not one_se_better(errors[e], errors[best], n_se=n_se)[0]:
            return e
    return best


@dataclass
class Fold:
    """One inner-CV fold: ``val`` (n,) bool its rows; the current prediction on the rows outside
    it (``fit_pred``) and on its own rows (``val_pred``), from fits that never saw ``val``;
    ``order`` (p,) the variants by association with expression on the rows outside it."""

    val: np.ndarray
    fit_pred: np.ndarray
    val_pred: np.ndarray
    order: np.ndarray | None = None


@dataclass
class TermFit:
    """Terms with their least-squares fit: ``coef`` (k,), ``intercept``, and the dosage
    statistics ``x_mean``/``x_sd`` (p,) the pair products are standardised with."""

    terms: Terms
    coef: np.ndarray
    intercept: float
    x_mean: np.ndarray
    x_sd: np.ndarray
    term_sd: np.ndarray | None = None  # (k,) of the training rows, for importance

    def predict(self, x: np.ndarray) -> np.ndarray:
        if not len(self.terms):
            return np.zeros(x.shape[0])
        m = term_matrix(x, self.terms, x_mean=self.x_mean, x_sd=self.x_sd)
        return self.intercept + m @ self.coef


def fit_terms(g: ScreenGenotypes, order, residual, *, weights, terms_cfg) -> TermFit:
    """Screen terms of the dosages ``g`` (n, p) against ``residual`` (n,) -- pairs among the
    candidates by ``order`` (p,), the variants' association with expression -- and fit them to
    the residual by least squares."""
    cand = np.zeros(0, np.int64)
    if terms_cfg["pairs"]:  # with weights: the most associated and as many of the most weighted
        cand = candidates_by_rank(
            order, size=terms_cfg["candidates"], weights=weights, weighted_share=1.0
        )
    terms = screen_terms(
        g,
        residual,
        candidates=cand,
        weights=weights,
        dominance=terms_cfg["dominance"],
        max_terms=terms_cfg["max_terms"],
        alpha=terms_cfg["alpha"],
    )
    if not len(terms):
        return TermFit(terms, np.zeros(0), 0.0, g.mean, g.sd)
    m = term_matrix(g.x, terms, x_mean=g.mean, x_sd=g.sd)
    design = np.column_stack([np.ones(len(residual)), m])
    beta = np.linalg.lstsq(design, residual, rcond=None)[0]
    return TermFit(terms, beta[1:], float(beta[0]), g.mean, g.sd)


@dataclass
class EncoderFit:
    """The encoder on ``candidates`` (M,): their dosage statistics, the target's mean/sd and
    the trained network (None: not used)."""

    candidates: np.ndarray
    x_mean: np.ndarray
    x_sd: np.ndarray
    t_mean: float
    t_sd: float
    net: EncoderStack | None  # a stack of one

    @classmethod
    def unused(cls) -> EncoderFit:
        """No encoder: it predicts 0."""
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), 0.0, 1.0, None)

    def inputs(self, x: np.ndarray, device) -> torch.Tensor:
        z = (np.asarray(x, np.float64)[:, self.candidates] - self.x_mean) / self.x_sd
        return torch.from_numpy(z.astype(np.float32)).to(device)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.net is None:
            return np.zeros(x.shape[0])
        device = next(self.net.parameters()).device
        with torch.no_grad():
            out = self.net(self.inputs(x, device)[None])[0].cpu().numpy().astype(np.float64)
        return self.t_mean + self.t_sd * out


def encoder_folds(x, y, folds, *, weights, size, device, seed: int) -> CVPlan:
    """The encoder's CV (:func:`twasnet.models.deep.loop.cv_epoch_errors`): per fold the
    candidates' standardised dosages and the standardised residual of what is fitted so far,
    candidates and statistics from the fold's training part; and the scale (n,) that turns each
    row's squared error back into expression's units."""
    fold_data, scale, offset = [], [], 0
    for f in folds:
        enc = encoder_data(x[~f.val], f.order, y[~f.val] - f.fit_pred, weights=weights, size=size)
        t_fit = (y[~f.val] - f.fit_pred - enc.t_mean) / enc.t_sd
        t_val = (y[f.val] - f.val_pred - enc.t_mean) / enc.t_sd
        n_val = int(f.val.sum())
        fold_data.append(
            (
                np.arange(offset, offset + n_val),
                enc.inputs(x[~f.val], device),
                as_tensor(t_fit, device),
                enc.inputs(x[f.val], device),
                as_tensor(t_val, device),
            )
        )
        scale.append(np.full(n_val, enc.t_sd**2))
        offset += n_val
    return CVPlan(fold_data, np.concatenate(scale), seed)


def encoder_data(x, order, target, *, weights, size) -> EncoderFit:
    """Candidates (first in ``order`` (p,), the variants by association with expression) and
    standardisation of ``x`` (n, p) for an encoder fitted to ``target`` (n,)."""
    cand = candidates_by_rank(order, size=size, weights=weights)
    mean, sd = standardisation(x[:, cand])
    t_sd = float(np.std(target))
    return EncoderFit(cand, mean, sd, float(np.mean(target)), t_sd if t_sd > 0 else 1.0, None)


@dataclass
class LinearCore:
    coef_: np.ndarray
    intercept_: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) @ self.coef_ + self.intercept_
