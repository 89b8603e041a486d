"""The one training loop of the deep models: full-batch AdamW with a proximal L1 step on ``s``,
over a stack of networks (:class:`twasnet.models.deep.networks.EncoderStack`).

:func:`cv_epoch_errors` trains, for each of one or more genes, one network per inner-CV fold and
records every training row's out-of-fold error after each epoch, so each gene's epoch count is
chosen from all its folds; the refit on every training row for that count is
:func:`train_epochs`. Genes given together are trained as one stack (one GPU's worth of small
networks in one set of kernels), each with its own seed, folds and early stopping; a gene that
has finished leaves the stack, and no gene's numbers depend on the others'
(``tests/test_batched.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from twasnet.models.deep.networks import EncoderStack, build_network

__all__ = ["CVPlan", "RefitPlan", "cv_epoch_errors", "train_epochs"]


@dataclass
class CVPlan:
    """One gene's encoder CV: per fold ``(rows, x_fit (n_fit, M), t_fit, x_val (n_val, M),
    t_val)`` tensors, ``rows`` (n_val,) the fold's positions among the gene's n training rows;
    ``scale`` (n,) turns each row's squared error back into expression's units; ``seed``."""

    folds: list
    scale: np.ndarray
    seed: int


@dataclass
class RefitPlan:
    """One gene's refit: ``x`` (n, M) -> ``target`` (n,) for ``epochs`` epochs from ``seed``."""

    x: torch.Tensor
    target: torch.Tensor
    epochs: int
    seed: int


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


def _optimiser(net: EncoderStack, training: dict) -> torch.optim.AdamW:
    """AdamW: decayed weights, undecayed biases, and last the scaling ``s`` (own lr, no decay).
    Every update is elementwise, so each member of the stack has its own optimiser."""
    return torch.optim.AdamW(
        [
            {"params": list(net.weights), "weight_decay": training["weight_decay"]},
            {"params": list(net.biases), "weight_decay": 0.0},
            {"params": [net.s], "weight_decay": 0.0, "lr": training["lr_scaling"]},
        ],
        lr=training["lr"],
    )


def _padded(tensors: Sequence[torch.Tensor], rows: int) -> torch.Tensor:
    """``tensors`` (n_b, ...) stacked into (B, rows, ...) with zero rows after each one's own."""
    out = tensors[0].new_zeros((len(tensors), rows, *tensors[0].shape[1:]))
    for b, t in enumerate(tensors):
        out[b, : len(t)] = t
    return out


class _Training:
    """A stack being trained on ``x`` (B, N, M) -> ``target`` (B, N): each member's loss is the
    mean squared error over its own rows (``weight``: 1/n_b on them, 0 on the padding)."""

    def __init__(self, net: EncoderStack, x, target, counts: Sequence[int], training: dict):
        self.net, self.x, self.target, self.training = net, x, target, training
        weight = torch.zeros(target.shape, dtype=target.dtype, device=target.device)
        for b, n in enumerate(counts):
            weight[b, :n] = 1.0 / n
        self.weight = weight
        self.optimiser = _optimiser(net, training)

    def epoch(self) -> None:
        """One full-batch step of every member: its MSE + the proximal L1 penalty on its ``s``."""
        self.net.train()
        self.optimiser.zero_grad(set_to_none=True)
        loss = (self.weight * (self.net(self.x) - self.target) ** 2).sum()
        loss.backward()
        self.optimiser.step()
        _prox(self.optimiser, self.net.s, self.training["l1_scaling"])

    def keep(self, index: Sequence[int]) -> None:
        """Go on with the members ``index`` only (their parameters and optimiser state)."""
        state = self.optimiser.state_dict()
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.x.device)
        for entry in state["state"].values():
            for key in ("exp_avg", "exp_avg_sq"):
                entry[key] = entry[key][idx]
        self.net = self.net.select(index)
        self.x, self.target, self.weight = self.x[idx], self.target[idx], self.weight[idx]
        self.optimiser = _optimiser(self.net, self.training)
        self.optimiser.load_state_dict(state)


@torch.no_grad()
def _squared_errors(net: EncoderStack, x: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """(B, N) squared errors of every member on its rows of ``x`` (B, N, M)."""
    net.eval()
    return ((net(x) - target) ** 2).cpu().numpy().astype(np.float64)


def train_epochs(
    plans: Sequence[RefitPlan], *, n_variants: int, arch: dict, training: dict, device
) -> list[EncoderStack]:
    """Each plan's network trained for its epochs (>= 1), all in one stack: one-member stacks."""
    net = build_network(n_variants, arch, seeds=[p.seed for p in plans], device=device)
    rows = max(len(p.target) for p in plans)
    run = _Training(
        net,
        _padded([p.x for p in plans], rows),
        _padded([p.target for p in plans], rows),
        [len(p.target) for p in plans],
        training,
    )
    out: list[EncoderStack | None] = [None] * len(plans)
    active = list(range(len(plans)))
    for epoch in range(1, max(p.epochs for p in plans) + 1):
        run.epoch()
        done = [b for b, i in enumerate(active) if plans[i].epochs == epoch]
        for b in done:
            out[active[b]] = run.net.select([b]).eval()
        if done and len(done) < len(active):
            run.keep([b for b in range(len(active)) if b not in done])
        active = [i for i in active if plans[i].epochs != epoch]
    return out


def cv_epoch_errors(
    plans: Sequence[CVPlan], *, n_variants: int, arch: dict, training: dict, device
) -> list[np.ndarray]:
    """Per plan, the squared errors ``(epochs run + 1, n)`` of every training row after each
    epoch, each from the fold fit that did not see it (row 0: the untrained nets, which predict
    0). A gene's folds train in lockstep, and it stops once the mean of its error over all folds
    has not improved for ``training["patience"]`` epochs (or at ``max_epochs``): early stopping
    on the K-fold CV curve, with no row seen by its own fit."""
    member_gene = [g for g, p in enumerate(plans) for _ in p.folds]
    folds = [f for p in plans for f in p.folds]
    seeds = [plans[g].seed for g in member_gene]
    fit_rows = max(len(f[2]) for f in folds)
    val_rows = max(len(f[4]) for f in folds)
    run = _Training(
        build_network(n_variants, arch, seeds=seeds, device=device),
        _padded([f[1] for f in folds], fit_rows),
        _padded([f[2] for f in folds], fit_rows),
        [len(f[2]) for f in folds],
        training,
    )
    x_val = _padded([f[3] for f in folds], val_rows)
    t_val = _padded([f[4] for f in folds], val_rows)
    curves = [[] for _ in plans]
    _record(curves, plans, member_gene, folds, _squared_errors(run.net, x_val, t_val))
    best = {g: c[0].mean() for g, c in enumerate(curves)}
    stale = dict.fromkeys(best, 0)
    for _ in range(training["max_epochs"]):
        run.epoch()
        _record(curves, plans, member_gene, folds, _squared_errors(run.net, x_val, t_val))
        for g in list(best):
            if curves[g][-1].mean() < best[g]:
                best[g], stale[g] = curves[g][-1].mean(), 0
            else:
                stale[g] += 1
                if stale[g] >= training["patience"]:
                    del best[g]
        keep = [b for b, g in enumerate(member_gene) if g in best]
        if not keep:
            break
        if len(keep) < len(member_gene):
            run.keep(keep)
            member_gene, folds = [member_gene[b] for b in keep], [folds[b] for b in keep]
            x_val, t_val = x_val[keep], t_val[keep]
    return [np.stack(c) for c in curves]


def _record(curves, plans, member_gene, folds, errors: np.ndarray) -> None:
    """Append, for each gene with members in the stack, this epoch's errors (n,) in row order."""
    fresh = {g: np.zeros(len(plans[g].scale)) for g in dict.fromkeys(member_gene)}
    for b, (g, f) in enumerate(zip(member_gene, folds, strict=True)):
        fresh[g][f[0]] = errors[b, : len(f[0])]
    for g, err in fresh.items():
        curves[g].append(err * plans[g].scale)
