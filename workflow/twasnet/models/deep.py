"""Deep models of expression from cis genotypes: training loop, estimators, shared prior.

Models (modules in :mod:`twasnet.models.cnn`):

* ``cnn`` (:class:`CNNModel`): standardised dosages -> per-variant scaling ``s`` -> 1-D conv
  encoder -> dense head (+ optional linear path) -> expression.
* ``cnn_annot`` (:class:`AnnotatedCNNModel` with ``prior_path``): ``s_j = r_j^tau mean(r^-tau)
  delta_j`` with relevance ``r = f_theta(a)``; ``theta`` trained across genes by
  :func:`train_annotation_prior`, frozen or fine-tuned, and the prior strength ``tau`` chosen
  there on genes ``theta`` did not see (:func:`choose_prior_strength`). Since the L1 penalty sits
  on ``delta``, the annotations act as per-variant penalty factors ``r_j^-tau`` (normalised to
  mean 1): the deep counterpart of ``enet_annot``, sign-agnostic, and exactly ``cnn`` when
  ``tau = 0`` or the prior finds nothing (constant r).
* ``cnn_annot_local`` (:class:`AnnotatedCNNModel` without ``prior_path``): ``theta`` learned on
  this gene alone, ``tau = 1``.

Genotype encoding (``architecture.genotype_encoding``): with ``additive_dominance`` the
network reads two channels per variant, the dosage ``g`` and the heterozygosity ``g (2 - g)``
(:func:`genotype_channels`, each standardised), both scaled by the variant's one weight ``s_j``;
the linear path is then ``sum_j s_j (x_j + u_j d_j)``, an additive + dominance model of the
variants ``s`` selects. With ``additive`` (default) the network reads the dosage alone (the
paper's input). The README's scenarios give the measured trade-off between the two.

Training of every model (one gene):

* The inner-CV fold 0 of the training individuals is the validation set (the smallest label when
  there is no fold 0); the other rows are the fitting rows. Dosages are standardised with the
  fitting rows' mean and population sd (constant columns -> 0), expression is centred and scaled
  by the fitting rows' mean and sd; predictions are returned on expression's original scale.
* Loss: MSE on standardised expression + ``l1_scaling * sum_j |w_j|`` with ``w = s`` (``cnn``)
  or ``delta`` (annotated models). AdamW; weight decay on network weights and ``theta``, none on
  ``w``, which has its own learning rate ``lr_scaling``. The L1 is a proximal step after each Adam
  step (soft-threshold in Adam's diagonal metric, :func:`_prox`), so unimportant variants sit at
  exactly 0.
* ``norm: batch`` keeps running statistics that lag badly under full-batch training (one update
  per epoch) and ruined validation predictions in our measurements; the default is ``none``.
* Two phases, both early-stopped on validation MSE with ``patience`` epochs and the best state
  restored (:func:`_train_net`): a linear warm-up of up to ``linear_epochs`` epochs in which only
  the scaling parameters move and the output is the linear path (a lasso on the scaled dosages),
  then joint training of every parameter from there. The head's read-out starts at 0, so the
  network enters the joint phase computing exactly the warm-up's linear model, and the joint
  phase is kept only where it lowers the validation MSE (``nonlinear_used`` in the record).
  Mini-batches of ``batch_size`` fitting rows (0/None or >= the fitting rows: full batch).
* Pairwise path (``architecture.pairs`` > 0, with the linear path): after the linear warm-up,
  :func:`screen_pairs` tests every pair of variants -- the product of their standardised dosages
  against the warm-up's residual on the fitting rows, Bonferroni over all ``p (p - 1) / 2`` pairs
  at ``pairs_alpha`` -- and keeps the strongest ``pairs`` that pass. If any do, a second linear
  phase fits their L1-penalised weights with the scaling (:class:`twasnet.models.cnn.PairProducts`),
  kept only where it lowers the validation MSE. This is twasnet's addition, not the paper's: a
  convolution only sees neighbouring variants, and in the nonlinear scenario (README) the paper's
  network missed interacting pairs far apart in the window. ``pairs: 0`` is the paper's network.
* Hyper-parameters: every point of ``grid`` (key -> list of values; keys of ``training`` or
  ``architecture``) is trained with the same seed; the point with the lowest validation MSE is
  kept (``grid_choice: lowest``), or with ``grid_choice: one_se`` the grid's first point unless
  the lowest beats it by more than one standard error of the paired per-individual difference
  in squared error (:func:`choose_grid_point`; list the simpler value first). With ``refit``
  (default) that point is retrained on every training row for the epoch counts early stopping
  chose; otherwise the early-stopped model (fitting rows only) is returned.
* Reproducibility: :func:`twasnet.device.seed_everything` before every grid point; on CPU the same
  inputs and seed give bit-identical weights and predictions.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from twasnet.adjust import is_constant, standardisation
from twasnet.device import resolve_device, seed_everything
from twasnet.errors import GeneSkipped, InputError
from twasnet.io.store import atomic_output
from twasnet.models.cnn import (
    ARCHITECTURE_DEFAULTS,
    GENOTYPE_ENCODINGS,
    AnnotatedScaling,
    AnnotationPrior,
    ConvBody,
    InputScaling,
    ScaledCNN,
    check_architecture,
)
from twasnet.models.features import feature_standardisation

__all__ = [
    "TRAINING_DEFAULTS",
    "PRIOR_DEFAULTS",
    "CNNModel",
    "AnnotatedCNNModel",
    "PriorGene",
    "load_model",
    "annotated_lasso_errors",
    "choose_prior_strength",
    "screen_pairs",
    "train_annotation_prior",
    "save_prior",
    "load_prior",
    "prior_module",
]

TRAINING_DEFAULTS: dict = {
    "lr": 0.003,
    "weight_decay": 0.0001,
    "batch_size": 64,  # 0: full batch
    "max_epochs": 150,
    "patience": 20,
    "l1_scaling": 0.2,
    "lr_scaling": 0.01,  # learning rate of s / delta (0: same as lr)
    "linear_epochs": 200,  # linear warm-up (lasso on the scaled input); 0: none
    "refit": True,  # retrain on every training row for the early-stopped epoch counts
    "grid_choice": "lowest",  # or "one_se": the grid's first point unless beaten by > 1 SE
}
GRID_CHOICES = ("lowest", "one_se")
PRIOR_DEFAULTS: dict = {
    "hidden": [16],
    "max_epochs": 100,
    "patience": 10,
    "lr": 0.003,
    "genes_per_step": 8,
    # prior strength tau (s_j ~ r_j^tau delta_j) of the shared prior, chosen across genes by
    # gene-held-out validation (:func:`choose_prior_strength`); tau = 0 is cnn exactly
    "strengths": [0.0, 0.5, 1.0],
    "gene_folds": 2,
}
GRID_DEFAULT: dict = {"l1_scaling": [0.1, 0.2]}
# a prior strength above the smallest must lower the gene-held-out error by this many standard
# errors over genes (~ a one-sided 2.5 % test): a random annotation column reached 1.2-1.6 SE in
# tests/test_deep.py's toy genes, a causal-marking one 2.7-2.9 SE
STRENGTH_N_SE = 2.0
NONZERO_RELATIVE = 1e-3  # n_nonzero: |s_j| > NONZERO_RELATIVE * max_j |s_j|
PRIOR_FORMAT = "twasnet-annotation-prior"


# --------------------------------------------------------------------------- configuration
def _check_training(training: dict | None) -> dict:
    training = dict(training or {})
    unknown = set(training) - set(TRAINING_DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown training key(s) {sorted(unknown)}; known: {sorted(TRAINING_DEFAULTS)}"
        )
    out = {**TRAINING_DEFAULTS, **training}
    out["lr"] = float(out["lr"])
    out["weight_decay"] = float(out["weight_decay"])
    out["l1_scaling"] = float(out["l1_scaling"])
    out["lr_scaling"] = float(out["lr_scaling"] or out["lr"])
    out["batch_size"] = int(out["batch_size"] or 0)
    out["max_epochs"] = int(out["max_epochs"])
    out["linear_epochs"] = int(out["linear_epochs"])
    out["refit"] = bool(out["refit"])
    out["patience"] = int(out["patience"])
    if out["grid_choice"] not in GRID_CHOICES:
        raise ValueError(
            f"training.grid_choice must be one of {GRID_CHOICES}, got {out['grid_choice']!r}"
        )
    if out["lr"] <= 0 or out["max_epochs"] < 1 or out["patience"] < 1:
        raise ValueError("training.lr must be > 0, max_epochs and patience >= 1")
    if min(out["l1_scaling"], out["weight_decay"], out["batch_size"], out["linear_epochs"]) < 0:
        raise ValueError(
            "training.l1_scaling, weight_decay, batch_size and linear_epochs must be >= 0"
        )
    return out


def _check_prior(prior: dict | None) -> dict:
    prior = dict(prior or {})
    unknown = set(prior) - set(PRIOR_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown prior key(s) {sorted(unknown)}; known: {sorted(PRIOR_DEFAULTS)}")
    out = {**PRIOR_DEFAULTS, **prior}
    out["hidden"] = [int(h) for h in out["hidden"]]
    out["lr"] = float(out["lr"])
    for key in ("max_epochs", "patience", "genes_per_step"):
        out[key] = int(out[key])
        if out[key] < 1:
            raise ValueError(f"prior.{key} must be >= 1, got {out[key]}")
    strengths = out["strengths"]
    strengths = strengths if isinstance(strengths, list | tuple) else [strengths]
    out["strengths"] = sorted({float(t) for t in strengths})
    if not out["strengths"] or not all(math.isfinite(t) and t >= 0 for t in out["strengths"]):
        raise ValueError(
            f"prior.strengths must be a non-empty list of finite values >= 0, got {strengths}"
        )
    out["gene_folds"] = int(out["gene_folds"])
    if out["gene_folds"] < 2:
        raise ValueError(f"prior.gene_folds must be >= 2, got {out['gene_folds']}")
    return out


def _grid_points(grid: dict | None, *, allowed: set[str]) -> list[dict]:
    """The grid's points in a fixed order (keys sorted, values as given); ``[{}]`` when empty."""
    grid = GRID_DEFAULT if grid is None else dict(grid)
    unknown = set(grid) - allowed
    if unknown:
        raise ValueError(f"unknown grid key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    keys = sorted(grid)
    values = [list(grid[k]) if isinstance(grid[k], list | tuple) else [grid[k]] for k in keys]
    if any(len(v) == 0 for v in values):
        raise ValueError("every grid key needs at least one value")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _split_point(point: dict, arch: dict, training: dict, prior: dict | None):
    """Apply a grid point to copies of the three config dicts."""
    arch, training = dict(arch), dict(training)
    prior = dict(prior) if prior is not None else None
    for key, value in point.items():
        if key in TRAINING_DEFAULTS:
            training[key] = value
        elif key in ARCHITECTURE_DEFAULTS:
            arch[key] = value
        else:
            prior[key] = value
    arch = check_architecture(arch)
    training = _check_training(training)
    return arch, training, (_check_prior(prior) if prior is not None else None)


def _plain(value):
    """JSON-friendly copy of a config value (numpy scalars -> Python)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- data preparation
@dataclass
class _Prepared:
    """One gene's standardised fitting/validation tensors and the statistics used."""

    x_fit: torch.Tensor  # (n_fit, C, p)
    y_fit: torch.Tensor  # (n_fit,)
    x_val: torch.Tensor  # (n_val, C, p)
    y_val: torch.Tensor  # (n_val,)
    x_mean: np.ndarray  # (C, p) of the genotype channels; row 0: the dosage
    x_scale: np.ndarray  # (C, p) 1/sd, 0 for constant columns
    y_mean: float
    y_sd: float


def validation_mask(folds: np.ndarray) -> np.ndarray:
    """Rows used for early stopping and grid choice (n,): fold 0, or the smallest fold label."""
    folds = np.asarray(folds)
    labels = np.unique(folds)
    if labels.size < 2:
        raise ValueError("folds must contain at least 2 distinct labels (validation + fitting)")
    label = 0 if 0 in labels else labels.min()
    return folds == label


def _check_xy(x, y, folds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"x must be 2-D (n, p) with p >= 1, got shape {x.shape}")
    y = np.asarray(y, dtype=np.float64)
    folds = np.asarray(folds)
    if y.shape != (x.shape[0],) or folds.shape != (x.shape[0],):
        raise ValueError(
            f"y {y.shape} and folds {folds.shape} must both have shape ({x.shape[0]},)"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite; impute missing dosages first")
    return x, y, folds


def genotype_channels(x: np.ndarray, encoding: str) -> np.ndarray:
    """Raw dosages ``x`` (n, p) -> the network's input channels (n, C, p): the dosage ``g``, and
    with ``additive_dominance`` also ``g (2 - g)`` (the heterozygote indicator for hard calls)."""
    x = np.asarray(x, dtype=np.float64)
    if GENOTYPE_ENCODINGS[encoding] == 1:
        return x[:, None, :]
    return np.stack([x, x * (2.0 - x)], axis=1)


def _standardise_channels(channels: np.ndarray, rows: np.ndarray):
    """Per-channel, per-variant mean (C, p) and 1/sd (C, p; 0 for constant) over ``rows``."""
    n, c, p = channels.shape
    mean, sd = standardisation(channels[rows].reshape(-1, c * p))
    return mean.reshape(c, p), (1.0 / sd).reshape(c, p)


def _prepare(
    x, y, folds, device: torch.device, *, encoding: str = "additive", hold_out: bool = True
) -> _Prepared:
    """Standardised tensors; ``hold_out=False`` (refit): every row fits, the validation is empty."""
    x, y, folds = _check_xy(x, y, folds)
    val = validation_mask(folds) if hold_out else np.zeros(len(y), dtype=bool)
    fit = ~val
    channels = genotype_channels(x, encoding)
    x_mean, x_scale = _standardise_channels(channels, fit)
    y_mean = float(y[fit].mean())
    y_sd = float(y[fit].std())
    if is_constant(y_mean, y_sd):
        raise GeneSkipped("constant_expression", "expression is constant in the fitting rows")
    xs = ((channels - x_mean) * x_scale).astype(np.float32)
    ys = ((y - y_mean) / y_sd).astype(np.float32)

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    return _Prepared(t(xs[fit]), t(ys[fit]), t(xs[val]), t(ys[val]), x_mean, x_scale, y_mean, y_sd)


# --------------------------------------------------------------------------- training loop
def _l1_params(net: ScaledCNN, l1_scaling: float):
    """(parameter, L1 strength) handled by the proximal step: ``s`` (cnn) or ``delta``, and the
    pairwise path's weights."""
    scaling = net.scaling.s if isinstance(net.scaling, InputScaling) else net.scaling.delta
    pairs = [(net.pairs.weight, l1_scaling)] if net.pairs is not None else []
    return [(scaling, l1_scaling), *pairs]


def screen_pairs(
    z: np.ndarray,
    residual: np.ndarray,
    *,
    max_pairs: int,
    alpha: float,
    block: int = 512,
) -> np.ndarray:
    """Variant pairs whose dosage product correlates with ``residual`` beyond chance.

    ``z`` (n, p) standardised dosages (constant columns 0) and ``residual`` (n,) of the same rows.
    For every pair ``a < b`` the Pearson correlation of ``z_a z_b`` with the residual is tested
    (t test, n - 2 df) at the Bonferroni level ``alpha / (p (p - 1) / 2)``, a family-wise bound
    under independence of the residual. Returns the passing pairs (k, 2), k <= ``max_pairs``,
    strongest first. Memory: ``block * p`` per matrix, so any window size fits.
    """
    z = np.asarray(z, dtype=np.float64)
    r = np.asarray(residual, dtype=np.float64)
    n, p = z.shape
    r = r - r.mean()
    empty = np.zeros((0, 2), dtype=np.int64)
    if max_pairs < 1 or p < 2 or n < 4 or not r.std() > 0:
        return empty
    from scipy.special import stdtrit  # the t quantile; lighter to import than scipy.stats

    t_crit = -float(stdtrit(n - 2, alpha / (p * (p - 1))))  # two-sided alpha / n_pairs
    r_crit = t_crit / math.sqrt(n - 2 + t_crit**2)
    zr = z * (r / r.std())[:, None]
    z2 = z * z
    found_pairs, found_corr = [], []
    for start in range(0, p, block):
        stop = min(p, start + block)
        mean_rq = zr[:, start:stop].T @ z / n  # (b, p): cov(r, z_a z_b) / sd(r), r centred
        mean_q = z[:, start:stop].T @ z / n
        var_q = z2[:, start:stop].T @ z2 / n - mean_q**2
        ok = var_q > 1e-8
        corr = np.zeros_like(mean_rq)
        corr[ok] = mean_rq[ok] / np.sqrt(var_q[ok])
        a = np.arange(start, stop)[:, None]
        hit = (np.abs(corr) > r_crit) & (np.arange(p)[None, :] > a)
        rows, cols = np.nonzero(hit)
        found_pairs.append(np.column_stack([rows + start, cols]))
        found_corr.append(np.abs(corr[rows, cols]))
    pairs, corr = np.concatenate(found_pairs), np.concatenate(found_corr)
    if pairs.size == 0:
        return empty
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -corr))[:max_pairs]
    return pairs[order].astype(np.int64)


@torch.no_grad()
def _prox(optimiser: torch.optim.Optimizer, params) -> None:
    """Soft-threshold after an Adam(W) step, in Adam's diagonal metric (proximal Adam).

    Entry j of a parameter with L1 strength ``lam`` is shrunk towards 0 by
    ``lr * lam / (sqrt(v_hat_j) + eps)``, the amount a gradient ``lam`` would move it: an entry
    whose data gradient stays below ``lam`` is held at exactly 0.
    """
    group = optimiser.param_groups[-1]
    lr, eps = group["lr"], group["eps"]
    beta2 = group["betas"][1]
    for p, lam in params:
        if lam <= 0 or p not in optimiser.state:
            continue
        state = optimiser.state[p]
        step = float(state["step"])
        v_hat = state["exp_avg_sq"] / (1.0 - beta2**step)
        threshold = lr * lam / (v_hat.sqrt() + eps)
        p.copy_(torch.sign(p) * torch.clamp(p.abs() - threshold, min=0.0))


def _param_groups(
    nets: list[ScaledCNN],
    weight_decay: float,
    lr_l1: float,
    shared: nn.Module | None = None,
    *,
    scaling_only: bool = False,
):
    """AdamW groups: decayed weights (and ``theta``), undecayed biases, and last the L1-handled
    parameters (``s``/``delta``) with their own learning rate. ``scaling_only``: only the
    parameters of the networks' linear paths (the linear warm-up)."""
    l1 = {id(p) for net in nets for p, _ in _l1_params(net, 0.0)}
    shared_ids = {id(p) for p in shared.parameters()} if shared is not None else set()
    decay, no_decay, l1_group, seen = [], [], [], set()
    for net in nets:
        for p in net.linear_parameters() if scaling_only else net.parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if id(p) in l1:
                l1_group.append(p)
            elif id(p) in shared_ids or p.ndim > 1:
                decay.append(p)
            else:
                no_decay.append(p)  # biases and norm parameters
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    groups.append({"params": l1_group, "weight_decay": 0.0, "lr": lr_l1})  # last: see _prox
    return groups


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor] | None:
    """Shuffled near-equal row chunks of ~batch_size (never of size 1); None for full batch."""
    if batch_size <= 0 or batch_size >= n:
        return None
    n_batches = max(1, math.ceil(n / batch_size))
    if n // n_batches < 2:
        n_batches = max(1, n // 2)
    perm = torch.randperm(n, generator=generator)
    return list(torch.tensor_split(perm, n_batches))


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _early_stopped(
    *,
    epoch_step,
    validate,
    keep: nn.Module,
    max_epochs: int,
    patience: int,
    best: float = math.inf,
) -> dict:
    """Run ``epoch_step()`` up to ``max_epochs`` times, scoring ``validate()`` after each; stop
    after ``patience`` epochs without improving on ``best``; restore ``keep``'s best state.

    ``best`` is the score to beat (that of ``keep``'s current state, when a previous phase left
    it). Returns ``{"val_mse", "best_epoch" (0: no epoch beat ``best``), "n_epochs_run"}``."""
    best_epoch, best_state, stale, epoch = 0, _snapshot(keep), 0, 0
    for epoch in range(1, max_epochs + 1):
        epoch_step()
        val = validate()
        if val < best:
            best, best_epoch, best_state, stale = val, epoch, _snapshot(keep), 0
        else:
            stale += 1
            if stale >= patience:
                break
    keep.load_state_dict(best_state)
    return {"val_mse": best, "best_epoch": best_epoch, "n_epochs_run": epoch}


def _train_net(
    net: ScaledCNN,
    data: _Prepared,
    *,
    training: dict,
    seed: int,
    pairs_alpha: float = 0.05,
    epochs: tuple[int, int, int] | None = None,
    pairs: np.ndarray | None = None,
) -> dict:
    """Train ``net`` in place in early-stopped phases; the best validated state is kept.

    1. Linear warm-up (``linear_epochs`` > 0 and a linear path): only the scaling parameters
       move and the output is the linear path alone -- a lasso on the scaled dosages, solved by
       proximal Adam. The head's read-out is still 0 then, so this *is* the network's output.
    1b. Pairs (``net.pairs`` and a linear path): :func:`screen_pairs` on the warm-up's residual
       over the fitting rows at ``pairs_alpha``; if pairs pass, the linear phase goes on with
       their weights, kept only where it lowers the validation MSE (else the pairs are dropped).
    2. Joint: every parameter, starting from the best state so far; it is kept only where it
       lowers the validation MSE further, so a gene without nonlinear signal keeps its lasso.

    ``epochs=(linear, pairs, joint)``: run exactly that many epochs of each phase, with no
    validation, using the given ``pairs`` (k, 2) -- the refit on every training row once early
    stopping and the screen have chosen them.

    Returns ``{"val_mse", "best_epoch", "n_epochs_run", "linear_best_epoch",
    "pairs_best_epoch", "variant_pairs", "nonlinear_used"}`` (val MSE on standardised expression;
    epochs of the joint phase; ``variant_pairs`` the kept pairs as a list of [a, b]).
    """
    generator = torch.Generator().manual_seed(int(seed) % (2**63))
    l1_params = _l1_params(net, training["l1_scaling"])
    n_fit = data.x_fit.shape[0]

    def run(optimiser, *, linear_only: bool, max_epochs: int, best: float) -> dict:
        def epoch_step() -> None:
            net.train()
            chunks = _batches(n_fit, training["batch_size"], generator)
            for rows in chunks if chunks is not None else [None]:
                xb = data.x_fit if rows is None else data.x_fit[rows.to(data.x_fit.device)]
                yb = data.y_fit if rows is None else data.y_fit[rows.to(data.y_fit.device)]
                optimiser.zero_grad(set_to_none=True)
                s = net.scaling.weights()
                fitted = net(xb, s, linear_only=linear_only)
                loss = torch.mean((fitted - yb) ** 2)
                loss.backward()
                optimiser.step()
                _prox(optimiser, l1_params)

        @torch.no_grad()
        def validate() -> float:
            net.eval()
            return float(torch.mean((net(data.x_val, linear_only=linear_only) - data.y_val) ** 2))

        if epochs is not None:
            for _ in range(max_epochs):
                epoch_step()
            net.eval()
            return {"val_mse": math.nan, "best_epoch": max_epochs, "n_epochs_run": max_epochs}
        info = _early_stopped(
            epoch_step=epoch_step,
            validate=validate,
            keep=net,
            max_epochs=max_epochs,
            patience=training["patience"],
            best=best,
        )
        net.eval()
        return info

    def optimiser(scaling_only: bool) -> torch.optim.Optimizer:
        groups = _param_groups(
            [net], training["weight_decay"], training["lr_scaling"], scaling_only=scaling_only
        )
        return torch.optim.AdamW(groups, lr=training["lr"])

    linear_max, pairs_max, joint_max = epochs or (
        training["linear_epochs"],
        training["linear_epochs"],
        training["max_epochs"],
    )
    linear = {"val_mse": math.inf, "best_epoch": 0, "n_epochs_run": 0}
    if linear_max > 0 and net.body.linear_path:
        linear = run(optimiser(True), linear_only=True, max_epochs=linear_max, best=math.inf)
    best = linear["val_mse"]
    paired = {"best_epoch": 0}
    if net.pairs is not None and net.body.linear_path and pairs_max > 0:
        z_fit = data.x_fit[:, 0]
        if pairs is None:
            with torch.no_grad():
                residual = data.y_fit - net(data.x_fit, linear_only=True)
            pairs = screen_pairs(
                z_fit.cpu().numpy(),
                residual.cpu().numpy(),
                max_pairs=net.pairs.index.shape[0],
                alpha=pairs_alpha,
            )
        if len(pairs):
            net.pairs.set_pairs(torch.as_tensor(np.asarray(pairs)), z_fit)
            paired = run(optimiser(True), linear_only=True, max_epochs=pairs_max, best=best)
            if paired["best_epoch"] == 0:
                net.pairs.set_pairs(torch.zeros((0, 2), dtype=torch.long), z_fit)
            elif epochs is None:
                best = paired["val_mse"]
    joint = {"val_mse": best, "best_epoch": 0, "n_epochs_run": 0}
    if joint_max > 0:
        joint = run(optimiser(False), linear_only=False, max_epochs=joint_max, best=best)
    kept = net.pairs.active().cpu().tolist() if net.pairs is not None else []
    return {
        **joint,
        "linear_best_epoch": linear["best_epoch"],
        "pairs_best_epoch": paired["best_epoch"],
        "variant_pairs": kept,
        "nonlinear_used": joint["best_epoch"] > 0,
    }


@torch.no_grad()
def _validation_errors(net: ScaledCNN, data: _Prepared) -> np.ndarray:
    """Squared errors (n_val,) of ``net``'s kept state on the validation rows."""
    net.eval()
    return ((net(data.x_val) - data.y_val) ** 2).cpu().numpy().astype(np.float64)


def choose_grid_point(errors: list[np.ndarray], *, rule: str, n_se: float = 1.0) -> int:
    """Index of the chosen grid point from each point's validation squared errors (each
    (n_val,), the same validation individuals for every point).

    ``lowest``: the lowest mean (the first on ties). ``one_se``: the first point, the grid's
    reference, unless the lowest beats it by more than ``n_se`` standard errors of the paired
    per-individual difference -- the one-standard-error rule, which keeps a noisy validation
    fold from trading the simpler model for one that is better by chance."""
    best = int(np.argmin([np.mean(e) for e in errors]))
    if rule == "lowest" or best == 0:
        return best
    diff = np.asarray(errors[0]) - np.asarray(errors[best])
    if diff.size < 2:
        return 0
    se = float(np.std(diff, ddof=1) / math.sqrt(diff.size))
    return best if float(np.mean(diff)) > n_se * se else 0


# --------------------------------------------------------------------------- estimators
class _DeepBase:
    """Shared fit/predict/state logic; subclasses build the network for a grid point."""

    kind = "base"

    def __init__(
        self,
        *,
        architecture: dict | None = None,
        training: dict | None = None,
        grid: dict | None = None,
        device: str = "auto",
        **ignored,
    ) -> None:
        self.architecture = check_architecture(dict(architecture or {}))
        self.training = _check_training(training)
        self.grid = _plain(GRID_DEFAULT if grid is None else dict(grid))
        self.device = str(device)
        self._points = _grid_points(self.grid, allowed=self._grid_keys())
        for point in self._points:  # fail at construction on bad grid values
            _split_point(point, self.architecture, self.training, self._prior_config())
        self.net: ScaledCNN | None = None
        self.device_name: str | None = None

    # hooks
    def _grid_keys(self) -> set[str]:
        return (set(TRAINING_DEFAULTS) - {"grid_choice"}) | set(ARCHITECTURE_DEFAULTS)

    def _prior_config(self) -> dict | None:
        return None

    def _build(self, n_variants: int, arch: dict, prior: dict | None, features) -> ScaledCNN:
        raise NotImplementedError

    def _check_features(self, features, n_variants: int):
        return None

    # protocol
    def fit(self, inputs) -> _DeepBase:
        """Fit on ``inputs`` (:class:`twasnet.models.registry.TrainingInputs`): every grid point
        early-stopped on the fold-0 rows, the best kept; with ``training.refit`` that point is
        then retrained from the same initialisation on every training row for the epoch counts
        early stopping chose (standardisation from every training row too)."""
        torch.set_num_threads(max(1, int(inputs.threads)))
        device = resolve_device(self.device)
        x = np.asarray(inputs.x)
        features = self._check_features(getattr(inputs, "features", None), x.shape[1])
        prepared: dict[str, _Prepared] = {}  # one per genotype encoding of the grid
        candidates, errors = [], []
        for point in self._points:
            arch, training, prior = _split_point(
                point, self.architecture, self.training, self._prior_config()
            )
            encoding = arch["genotype_encoding"]
            if encoding not in prepared:
                prepared[encoding] = _prepare(x, inputs.y, inputs.folds, device, encoding=encoding)
            data = prepared[encoding]
            seed_everything(inputs.seed)
            net = self._build(x.shape[1], arch, prior, features).to(device)
            info = _train_net(
                net, data, training=training, seed=inputs.seed, pairs_alpha=arch["pairs_alpha"]
            )
            candidates.append((point, info, net, arch, training, prior))
            errors.append(_validation_errors(net, data))
        chosen = choose_grid_point(errors, rule=self.training["grid_choice"])
        point, info, net, arch, training, prior = candidates[chosen]
        if training["refit"]:
            data = _prepare(
                x,
                inputs.y,
                inputs.folds,
                device,
                encoding=arch["genotype_encoding"],
                hold_out=False,
            )
            seed_everything(inputs.seed)
            net = self._build(x.shape[1], arch, prior, features).to(device)
            _train_net(
                net,
                data,
                training=training,
                seed=inputs.seed,
                epochs=(info["linear_best_epoch"], info["pairs_best_epoch"], info["best_epoch"]),
                pairs=np.asarray(info["variant_pairs"], dtype=np.int64).reshape(-1, 2),
            )
        self.net = net
        self._chosen = {"point": _plain(point), **info}
        self._arch, self._training, self._prior = arch, training, prior
        self._features = features
        self._x_mean, self._x_scale = data.x_mean, data.x_scale
        self._y_mean, self._y_sd = data.y_mean, data.y_sd
        self.device_name = device.type
        return self

    def _require_fit(self) -> None:
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__} used before fit")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted expression (m,) for raw dosages ``x`` (m, p)."""
        self._require_fit()
        x = np.asarray(x, dtype=np.float64)
        p = self._x_mean.shape[-1]
        if x.ndim != 2 or x.shape[1] != p:
            raise ValueError(f"x must have shape (m, {p}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x must be finite; impute missing dosages first")
        xs = _standardised_channels(x, self._arch["genotype_encoding"], self._x_mean, self._x_scale)
        device = next(self.net.parameters()).device
        self.net.eval()
        with torch.no_grad():
            out = self.net(torch.from_numpy(xs).to(device)).cpu().numpy().astype(np.float64)
        return out * self._y_sd + self._y_mean

    def scaling(self) -> np.ndarray:
        """Effective scaling weights ``s`` (p,) of the chosen model."""
        self._require_fit()
        with torch.no_grad():
            return self.net.scaling.weights().detach().cpu().numpy().astype(np.float64)

    def importance(self) -> np.ndarray:
        """(p,): ``|s_j|``, the absolute effective scaling weight of each variant, plus ``|w_k|``
        of every kept pair ``k`` it belongs to (both on the standardised scale)."""
        imp = np.abs(self.scaling())
        pairs = self.net.pairs
        if pairs is not None:
            index = pairs.active().cpu().numpy()
            weight = pairs.weight[: pairs.n_active].detach().cpu().numpy().astype(np.float64)
            weight = np.abs(weight)
            np.add.at(imp, index[:, 0], weight)
            np.add.at(imp, index[:, 1], weight)
        return imp

    def n_nonzero(self) -> int:
        """Variants with ``|s_j| > 1e-3 * max_j |s_j|`` (0 when every ``s_j`` is 0)."""
        imp = self.importance()
        top = float(imp.max()) if imp.size else 0.0
        return int(np.count_nonzero(imp > NONZERO_RELATIVE * top)) if top > 0 else 0

    def hyperparameters(self) -> dict:
        """Chosen grid point, its validation MSE (standardised y), the best epochs of the linear
        warm-up and of the joint phase, epochs run, whether the joint phase was kept, and the
        kept variant pairs (column indices, [a, b])."""
        self._require_fit()
        c = self._chosen
        return {
            **c["point"],
            "val_mse": float(c["val_mse"]),
            "best_epoch": int(c["best_epoch"]),
            "n_epochs_run": int(c["n_epochs_run"]),
            "linear_best_epoch": int(c.get("linear_best_epoch", 0)),
            "nonlinear_used": bool(c.get("nonlinear_used", True)),
            "variant_pairs": [[int(a), int(b)] for a, b in c.get("variant_pairs", [])],
        }

    def state(self) -> dict:
        """Everything needed to predict from new genotypes (plain tensors and Python values)."""
        self._require_fit()
        return {
            "model": self.kind,
            "architecture": _plain(self._arch),
            "training": _plain(self._training),
            "prior_config": _plain(self._prior),
            "grid": self.grid,
            "chosen": _plain(self._chosen),
            "n_variants": int(self._x_mean.shape[-1]),
            "x_mean": torch.from_numpy(self._x_mean.copy()),
            "x_scale": torch.from_numpy(self._x_scale.copy()),
            "y_mean": float(self._y_mean),
            "y_sd": float(self._y_sd),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
            **self._extra_state(),
        }

    def _extra_state(self) -> dict:
        return {}


class CNNModel(_DeepBase):
    """``cnn``: learnable per-variant input scaling -> 1-D conv encoder -> dense head.

    ``architecture``/``training``/``grid`` as the module docstring (missing keys take
    :data:`ARCHITECTURE_DEFAULTS`/:data:`TRAINING_DEFAULTS`); ``device`` "auto"/"cpu"/"cuda".
    """

    kind = "cnn"

    def _build(self, n_variants, arch, prior, features) -> ScaledCNN:
        return ScaledCNN(
            InputScaling(n_variants, arch["scaling_init"]),
            ConvBody(n_variants, arch),
            n_pairs=arch["pairs"],
        )


class AnnotatedCNNModel(_DeepBase):
    """``cnn_annot`` / ``cnn_annot_local``: scaling ``s_j = r_j^tau mean(r^-tau) delta_j``,
    ``r = f_theta(a)``.

    With ``prior_path`` (a file of :func:`save_prior`), ``theta``, the feature standardisation
    and ``tau`` come from the shared prior; ``theta`` is kept ``prior_mode="frozen"``
    (bit-identical) or fine-tuned (``"finetune"``). Without it (local mode), ``theta`` starts
    fresh and is learned on this gene only, features standardised with this gene's variants, and
    ``tau = 1``. ``prior`` configures ``hidden`` (local mode).
    """

    kind = "cnn_annot"

    def __init__(
        self,
        *,
        architecture: dict | None = None,
        training: dict | None = None,
        grid: dict | None = None,
        prior: dict | None = None,
        prior_path: str | None = None,
        prior_mode: str = "frozen",
        device: str = "auto",
        **ignored,
    ) -> None:
        if prior_mode not in ("frozen", "finetune"):
            raise ValueError(f"prior_mode must be 'frozen' or 'finetune', got {prior_mode!r}")
        self.prior_config = _check_prior(prior)
        self.prior_path = None if prior_path is None else str(prior_path)
        self.prior_mode = prior_mode
        self._prior_state: dict | None = None
        super().__init__(architecture=architecture, training=training, grid=grid, device=device)

    def _prior_config(self) -> dict:
        return self.prior_config

    def _loaded_prior(self) -> dict | None:
        if self.prior_path is not None and self._prior_state is None:
            self._prior_state = load_prior(self.prior_path)
        return self._prior_state

    def _check_features(self, features, n_variants: int) -> np.ndarray:
        if features is None:
            raise ValueError("cnn_annot needs TrainingInputs.features (p, d)")
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[0] != n_variants:
            raise ValueError(f"features must have shape ({n_variants}, d), got {features.shape}")
        if not np.all(np.isfinite(features)):
            raise ValueError("features contain NaN or infinite values")
        state = self._loaded_prior()
        if state is not None and features.shape[1] != state["n_features"]:
            raise InputError(
                f"{self.prior_path}: the annotation prior was trained on {state['n_features']} "
                f"variant features, but this gene has {features.shape[1]}; retrain the prior with "
                "the current annotation columns (delete the prior file and rerun)"
            )
        return features

    def _build(self, n_variants, arch, prior, features) -> ScaledCNN:
        body = ConvBody(n_variants, arch)
        state = self._loaded_prior()
        # theta's initialisation draws from a forked generator, so the body's initialisation and
        # the dropout masks of training are cnn's: tau = 0 then trains cnn exactly
        with torch.random.fork_rng(devices=[]):
            if state is None:
                mean, sd = _feature_stats([features])
                theta = AnnotationPrior(
                    features.shape[1],
                    prior["hidden"],
                    feature_mean=mean,
                    feature_sd=sd,
                    activation=arch["activation"],
                )
                strength = 1.0
            else:
                theta = prior_module(state)
                strength = float(state.get("strength", 1.0))
                if self.prior_mode == "frozen":
                    theta.requires_grad_(False)
        return ScaledCNN(
            AnnotatedScaling(theta, features, arch["scaling_init"], strength),
            body,
            n_pairs=arch["pairs"],
        )

    def hyperparameters(self) -> dict:
        """As :meth:`CNNModel.hyperparameters`, plus the prior strength ``tau`` used."""
        return {**super().hyperparameters(), "prior_strength": float(self.net.scaling.strength)}

    def _extra_state(self) -> dict:
        return {
            "prior_path": self.prior_path,
            "prior_mode": self.prior_mode if self.prior_path is not None else "local",
            "prior_hidden": [
                m.out_features for m in self.net.scaling.prior.mlp if isinstance(m, nn.Linear)
            ][:-1],
            "prior_activation": self._arch["activation"]
            if self._prior_state is None
            else self._prior_state["activation"],
            "features": torch.from_numpy(self._features.copy()),
        }


def load_model(state: dict) -> CNNModel | AnnotatedCNNModel:
    """Rebuild a fitted estimator from its :meth:`state` (on CPU); it predicts identically."""
    kind = state.get("model")
    arch = check_architecture(dict(state["architecture"]))
    p = int(state["n_variants"])
    if kind == "cnn":
        model = CNNModel(architecture=arch, training=state["training"], grid=state["grid"])
        net = ScaledCNN(
            InputScaling(p, arch["scaling_init"]), ConvBody(p, arch), n_pairs=arch["pairs"]
        )
        model._features = None
    elif kind == "cnn_annot":
        model = AnnotatedCNNModel(
            architecture=arch,
            training=state["training"],
            grid=state["grid"],
            prior=state["prior_config"],
        )
        model.prior_path = state["prior_path"]
        model.prior_mode = state["prior_mode"] if state["prior_mode"] != "local" else "frozen"
        features = state["features"].numpy()
        d = features.shape[1]
        theta = AnnotationPrior(
            d,
            state["prior_hidden"],
            feature_mean=torch.zeros(d),
            feature_sd=torch.ones(d),
            activation=state["prior_activation"],
        )
        net = ScaledCNN(
            AnnotatedScaling(theta, features, arch["scaling_init"]),
            ConvBody(p, arch),
            n_pairs=arch["pairs"],
        )
        model._features = features
    else:
        raise ValueError(f"not a deep-model state (model={kind!r})")
    state_dict = dict(state["state_dict"])
    if kind == "cnn_annot":  # artefacts written before the prior strength existed used tau = 1
        state_dict.setdefault("scaling.strength", torch.tensor(1.0))
    net.load_state_dict(state_dict)
    net.eval()
    model.net = net
    model._arch, model._training, model._prior = arch, state["training"], state["prior_config"]
    model._chosen = state["chosen"]
    # states written before genotype channels hold (p,) statistics: the dosage channel alone
    model._x_mean = state["x_mean"].numpy().reshape(-1, p).copy()
    model._x_scale = state["x_scale"].numpy().reshape(-1, p).copy()
    model._y_mean, model._y_sd = float(state["y_mean"]), float(state["y_sd"])
    model.device_name = "cpu"
    return model


# --------------------------------------------------------------------------- shared prior
@dataclass(frozen=True)
class PriorGene:
    """One gene's training data for the shared prior: ``x`` (n_train, p) raw dosages, ``y``
    (n_train,), ``folds`` (n_train,) inner-CV labels, ``features`` (p, d) float32."""

    x: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    features: np.ndarray


def _feature_stats(features: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`twasnet.models.features.feature_standardisation` as float32 tensors (d,)."""
    mean, sd = feature_standardisation(features)
    return torch.tensor(mean, dtype=torch.float32), torch.tensor(sd, dtype=torch.float32)


def prior_module(state: dict) -> AnnotationPrior:
    """The prior network ``f_theta`` of a prior state (:func:`load_prior`), on CPU."""
    theta = AnnotationPrior(
        int(state["n_features"]),
        state["hidden"],
        feature_mean=state["feature_mean"],
        feature_sd=state["feature_sd"],
        activation=state["activation"],
    )
    theta.mlp.load_state_dict(state["theta"])
    return theta


def _fit_theta(
    genes: list[PriorGene],
    *,
    arch: dict,
    training: dict,
    prior: dict,
    seed: int,
    device: torch.device,
) -> tuple[AnnotationPrior, dict]:
    """Train ``theta`` jointly over ``genes`` (features standardised over their variants);
    returns the early-stopped prior module and ``{"val_mse", "best_epoch", "n_epochs_run"}``."""
    mean, sd = _feature_stats([g.features for g in genes])
    data = [_prepare(g.x, g.y, g.folds, device, encoding=arch["genotype_encoding"]) for g in genes]
    seed_everything(seed)
    theta = AnnotationPrior(
        genes[0].features.shape[1],
        prior["hidden"],
        feature_mean=mean,
        feature_sd=sd,
        activation=arch["activation"],
    ).to(device)
    nets = []
    for g in genes:
        features = torch.as_tensor(np.asarray(g.features, dtype=np.float32))
        scaling = AnnotatedScaling(theta, features, arch["scaling_init"])
        nets.append(ScaledCNN(scaling, ConvBody(np.asarray(g.x).shape[1], arch)).to(device))
    optimiser = torch.optim.AdamW(
        _param_groups(
            nets, training["weight_decay"], training["lr_scaling"], shared=theta, scaling_only=True
        ),
        lr=prior["lr"],
    )
    generator = torch.Generator().manual_seed(int(seed) % (2**63))
    l1 = training["l1_scaling"]

    def epoch_step() -> None:
        order = torch.randperm(len(genes), generator=generator).tolist()
        for net in nets:
            net.train()
        for k in range(0, len(order), prior["genes_per_step"]):
            chosen = order[k : k + prior["genes_per_step"]]
            optimiser.zero_grad(set_to_none=True)
            loss = 0.0
            for i in chosen:
                net, dat = nets[i], data[i]
                s = net.scaling.weights()
                mse = torch.mean((net(dat.x_fit, s, linear_only=True) - dat.y_fit) ** 2)
                loss = loss + mse
            loss.backward()
            optimiser.step()
            _prox(optimiser, [(nets[i].scaling.delta, l1) for i in chosen])

    @torch.no_grad()
    def validate() -> float:
        vals = []
        for net, dat in zip(nets, data, strict=True):
            net.eval()
            vals.append(float(torch.mean((net(dat.x_val, linear_only=True) - dat.y_val) ** 2)))
        return float(np.mean(vals))

    info = _early_stopped(
        epoch_step=epoch_step,
        validate=validate,
        keep=theta.mlp,
        max_epochs=prior["max_epochs"],
        patience=prior["patience"],
    )
    return theta, info


def _standardised_channels(x: np.ndarray, encoding: str, x_mean, x_scale) -> np.ndarray:
    """Genotype channels of raw dosages ``x`` (m, p) standardised with stored statistics:
    float32 (m, C, p)."""
    return ((genotype_channels(x, encoding) - x_mean) * x_scale).astype(np.float32)


def annotated_lasso_errors(
    gene: PriorGene,
    prior: nn.Module,
    strengths: list[float],
    *,
    arch: dict,
    training: dict,
    seed: int,
    device: torch.device,
) -> np.ndarray:
    """Held-out error (len(strengths),) of the annotated lasso at each prior strength, one gene.

    The linear warm-up of :func:`_train_net` with ``s_j = r_j^tau mean(r^-tau) delta_j``,
    ``r = prior(gene.features)`` (kept as given: freeze it first), is fitted on the gene's rows
    outside its second inner-CV fold and early-stopped on its first; the error is the mean squared
    error on that second fold, on expression standardised by the fitting rows. ``gene`` needs at
    least three fold labels."""
    folds = np.asarray(gene.folds)
    labels = np.unique(folds)
    if labels.size < 3:
        raise ValueError(f"annotated_lasso_errors needs >= 3 inner folds, got {labels.size}")
    scored = folds == labels[1]
    x_all, y_all = np.asarray(gene.x), np.asarray(gene.y)
    encoding = arch["genotype_encoding"]
    data = _prepare(x_all[~scored], y_all[~scored], folds[~scored], device, encoding=encoding)
    x_eval = _standardised_channels(x_all[scored], encoding, data.x_mean, data.x_scale)
    x_eval = torch.from_numpy(x_eval).to(device)
    y_eval = (y_all[scored] - data.y_mean) / data.y_sd
    features = torch.as_tensor(np.asarray(gene.features, dtype=np.float32))
    linear = {**training, "max_epochs": 0}  # the linear warm-up only
    errors = np.zeros(len(strengths))
    for t, tau in enumerate(strengths):
        seed_everything(seed)
        scaling = AnnotatedScaling(prior, features, arch["scaling_init"], tau)
        net = ScaledCNN(scaling, ConvBody(x_all.shape[1], arch)).to(device)
        _train_net(net, data, training=linear, seed=seed)
        with torch.no_grad():
            fitted = net(x_eval, linear_only=True).cpu().numpy().astype(np.float64)
        errors[t] = float(np.mean((fitted - y_eval) ** 2))
    return errors


def choose_prior_strength(
    genes: list[PriorGene],
    *,
    arch: dict,
    training: dict,
    prior: dict,
    seed: int,
    device: torch.device,
) -> dict:
    """Choose the prior strength ``tau`` of the shared prior by gene-held-out validation.

    The genes are dealt into ``prior.gene_folds`` groups (seeded). For each group, ``theta`` is
    trained on the other groups' genes; each gene of the group then fits the annotated lasso
    with ``theta`` frozen at every ``tau`` of ``prior.strengths`` and is scored on an inner fold
    that no step of the fit has seen (:func:`annotated_lasso_errors`). The smallest ``tau`` is
    kept unless another lowers that error by more than :data:`STRENGTH_N_SE` standard errors
    over genes (:func:`choose_grid_point`), so annotations that do not help genes the prior has
    not seen leave ``tau`` at its smallest value (0: the annotated model is ``cnn``).

    Returns ``{"strength", "strengths", "mse" (per tau, mean over genes), "gain", "gain_se"
    (per tau: mean and SE over genes of the error reduction from the smallest tau),
    "n_genes"}``; with one strength, fewer than two genes, or no gene with three inner folds,
    the smallest strength and ``n_genes`` 0.
    """
    strengths = prior["strengths"]
    usable = [i for i, g in enumerate(genes) if len(np.unique(g.folds)) >= 3]
    out = {"strength": strengths[0], "strengths": list(strengths), "mse": [], "n_genes": 0}
    if len(strengths) == 1 or len(usable) < 2:
        return out
    n_groups = min(prior["gene_folds"], len(usable))
    order = np.random.default_rng(seed).permutation(len(usable))
    group = np.empty(len(usable), dtype=np.int64)
    group[order] = np.arange(len(usable)) % n_groups
    errors = np.zeros((len(strengths), len(usable)))
    for k in range(n_groups):
        others = [genes[usable[j]] for j in np.flatnonzero(group != k)]
        theta, _ = _fit_theta(
            others, arch=arch, training=training, prior=prior, seed=seed, device=device
        )
        theta.requires_grad_(False)
        for j in np.flatnonzero(group == k):
            errors[:, j] = annotated_lasso_errors(
                genes[usable[j]],
                theta,
                strengths,
                arch=arch,
                training=training,
                seed=seed,
                device=device,
            )
    chosen = choose_grid_point(list(errors), rule="one_se", n_se=STRENGTH_N_SE)
    gain = errors[0] - errors  # (strengths, genes): how much each tau lowers the error
    return {
        "strength": strengths[chosen],
        "strengths": list(strengths),
        "mse": [float(e) for e in errors.mean(axis=1)],
        "gain": [float(g) for g in gain.mean(axis=1)],
        "gain_se": [float(g) for g in gain.std(axis=1, ddof=1) / math.sqrt(gain.shape[1])],
        "n_genes": len(usable),
    }


def train_annotation_prior(
    genes: list[PriorGene],
    *,
    architecture: dict | None = None,
    training: dict | None = None,
    prior: dict | None = None,
    seed: int,
    device: str = "auto",
    threads: int = 1,
) -> dict:
    """Train the shared annotation prior ``theta`` jointly over ``genes`` and choose its
    strength ``tau`` (:func:`choose_prior_strength`).

    Each gene has its own deviation ``delta``; ``theta`` is common. ``theta`` is trained through
    the networks' linear read-out ``sum_j s_j x_j`` (the output of every gene's network after the
    linear warm-up, see :func:`_train_net`): what it learns is which variants deserve a large
    scaling weight, and the conv bodies -- fitted per gene afterwards -- do not enter. One step
    takes ``prior.genes_per_step`` genes (shuffled each epoch) and minimises the sum over them of
    (MSE on the gene's fitting rows, full batch, + ``l1_scaling * sum|delta|``). After every
    epoch the mean validation MSE over genes (fold-0 rows) is computed; training stops after
    ``prior.patience`` epochs without improvement and the best epoch's ``theta`` is returned.
    ``training`` supplies ``l1_scaling``, ``lr_scaling`` and ``weight_decay``; ``prior`` its own
    ``lr``/``max_epochs``/``patience``/``hidden`` and the strength grid.

    Returns the prior state (for :func:`save_prior`): plain tensors, feature mean/sd, the chosen
    ``strength`` with its selection (``strength_selection``) and config.
    """
    if not genes:
        raise ValueError("train_annotation_prior needs at least one gene")
    arch = check_architecture(dict(architecture or {}))
    training = _check_training(training)
    prior = _check_prior(prior)
    torch.set_num_threads(max(1, int(threads)))
    dev = resolve_device(device)
    d = np.asarray(genes[0].features).shape[1]
    for i, g in enumerate(genes):
        f = np.asarray(g.features)
        if f.ndim != 2 or f.shape != (np.asarray(g.x).shape[1], d):
            raise ValueError(
                f"gene {i}: features must have shape (p, {d}) with p = x's columns, got {f.shape}"
            )
    selection = choose_prior_strength(
        genes, arch=arch, training=training, prior=prior, seed=seed, device=dev
    )
    theta, info = _fit_theta(
        genes, arch=arch, training=training, prior=prior, seed=seed, device=dev
    )
    return {
        "format": PRIOR_FORMAT,
        "version": 1,
        "n_features": int(d),
        "hidden": list(prior["hidden"]),
        "activation": arch["activation"],
        "scaling_init": float(arch["scaling_init"]),
        "feature_mean": theta.feature_mean.detach().cpu().clone(),
        "feature_sd": theta.feature_sd.detach().cpu().clone(),
        "theta": {k: v.cpu() for k, v in _snapshot(theta.mlp).items()},
        "strength": float(selection["strength"]),
        "strength_selection": selection,
        "architecture": _plain(arch),
        "training": _plain(training),
        "prior": _plain(prior),
        "seed": int(seed),
        "n_genes": len(genes),
        "val_mse": float(info["val_mse"]),
        "best_epoch": int(info["best_epoch"]),
        "n_epochs_run": int(info["n_epochs_run"]),
    }


def save_prior(state: dict, path) -> None:
    """Write a prior state atomically (temporary file in the same folder, then rename)."""
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def load_prior(path) -> dict:
    """Read a prior written by :func:`save_prior` (tensors on CPU); ``InputError`` if unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: annotation prior file not found; train it first (the cnn_annot prior rule) "
            "or set cnn_annot.prior_path to an existing file"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user problem
        raise InputError(
            f"{path}: not a readable annotation prior ({err}); delete it and retrain the prior"
        ) from err
    if not isinstance(state, dict) or state.get("format") != PRIOR_FORMAT:
        raise InputError(
            f"{path}: not a twasnet annotation prior (missing format {PRIOR_FORMAT!r}); "
            "delete it and retrain the prior"
        )
    return state
