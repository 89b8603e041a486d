"""The one training loop of the deep models: full-batch AdamW with a proximal L1 step on ``s``.

:func:`cv_epoch_errors` trains one network per inner-CV fold and records every training row's
out-of-fold error after each epoch, so the epoch count is chosen from all folds; the refit on
every training row for that count is :func:`train_epochs`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["cv_epoch_errors", "train_epochs"]


@torch.no_grad()
def _prox(optimiser: torch.optim.Optimizer, param: nn.Parameter, lam: float) -> None:
    """Soft-threshold ``param`` after an Adam step in Adam's diagonal metric (proximal Adam):
    an entry whose data gradient stays below ``lam`` is held at exactly 0."""
    if lam <= 0 or param not in optimiser.state:
        return
    group = optimiser.param_groups[-1]
    state = optimiser.state[param]
    v_hat = state["exp_avg_sq"] / (1.0 - group["betas"][1] ** float(state["step"]))
    threshold = group["lr"] * lam / (v_hat.sqrt() + group["eps"])
    param.copy_(torch.sign(param) * torch.clamp(param.abs() - threshold, min=0.0))


def _optimiser(net: nn.Module, training: dict) -> torch.optim.AdamW:
    """AdamW: decayed weights, undecayed biases, and last the scaling ``s`` (own lr, no decay)."""
    weights = [p for n, p in net.named_parameters() if n != "s" and p.ndim > 1]
    biases = [p for n, p in net.named_parameters() if n != "s" and p.ndim <= 1]
    return torch.optim.AdamW(
        [
            {"params": weights, "weight_decay": training["weight_decay"]},
            {"params": biases, "weight_decay": 0.0},
            {"params": [net.s], "weight_decay": 0.0, "lr": training["lr_scaling"]},
        ],
        lr=training["lr"],
    )


def _epoch(net: nn.Module, optimiser, x: torch.Tensor, target: torch.Tensor, l1: float) -> None:
    """One full-batch step: MSE + the proximal L1 penalty ``l1 * sum|s|``."""
    net.train()
    optimiser.zero_grad(set_to_none=True)
    loss = torch.mean((net(x) - target) ** 2)
    loss.backward()
    optimiser.step()
    _prox(optimiser, net.s, l1)


@torch.no_grad()
def _squared_errors(net: nn.Module, x: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    net.eval()
    return ((net(x) - target) ** 2).cpu().numpy().astype(np.float64)


def train_epochs(
    net: nn.Module, x: torch.Tensor, target: torch.Tensor, *, epochs: int, training: dict
) -> None:
    """Train ``net`` in place on ``x`` (n, M) -> ``target`` (n,) for ``epochs`` epochs."""
    optimiser = _optimiser(net, training)
    for _ in range(epochs):
        _epoch(net, optimiser, x, target, training["l1_scaling"])
    net.eval()


def cv_epoch_errors(fold_data, *, build, training: dict, scale: np.ndarray) -> np.ndarray:
    """Squared errors ``(epochs run + 1, n)`` of every training row after each epoch, each from
    the fold fit that did not see it (row 0: the untrained nets, which predict 0).

    ``fold_data``: per fold ``(rows, x_fit, t_fit, x_val, t_val)``, ``rows`` (n_val,) the fold's
    positions in the output; ``build()`` a fresh network; ``scale`` (n,) converts each row's
    error back to expression's scale. The folds train in lockstep, and training stops once the
    mean error over all folds has not improved for ``training["patience"]`` epochs (or at
    ``max_epochs``): early stopping on the K-fold CV curve, with no row seen by its own fit.
    """
    n = sum(len(rows) for rows, *_ in fold_data)
    nets = [build() for _ in fold_data]
    optimisers = [_optimiser(net, training) for net in nets]
    curve = [np.zeros(n)]
    for (rows, _, _, x_val, t_val), net in zip(fold_data, nets, strict=True):
        curve[0][rows] = _squared_errors(net, x_val, t_val)
    curve[0] *= scale
    best, stale = curve[0].mean(), 0
    for _ in range(training["max_epochs"]):
        err = np.zeros(n)
        for (rows, x_fit, t_fit, x_val, t_val), net, opt in zip(
            fold_data, nets, optimisers, strict=True
        ):
            _epoch(net, opt, x_fit, t_fit, training["l1_scaling"])
            err[rows] = _squared_errors(net, x_val, t_val)
        curve.append(err * scale)
        if curve[-1].mean() < best:
            best, stale = curve[-1].mean(), 0
        else:
            stale += 1
            if stale >= training["patience"]:
                break
    return np.stack(curve)
