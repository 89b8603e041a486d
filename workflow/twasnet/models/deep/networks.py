"""The one network builder: per-variant input scaling -> 1-D conv encoder -> dense head.

Shapes: standardised dosages of the gene's candidate variants ``(B, M)`` in genomic order; the
scaling ``s (M,)``, one weight per variant (L1-penalised: the paper's sparse input layer); the
output ``(B,)``. The head's read-out starts at exactly 0, so a fresh network predicts 0: fitted
to a residual, it starts as "no addition" and only grows where training asks for it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "elu": nn.ELU}


def block_lengths(n_variants: int, arch: dict) -> list[int]:
    """Sequence length after each conv block ("same" padding, stride, ceil-mode pooling)."""
    lengths = [n_variants]
    for _ in arch["channels"]:
        length = (lengths[-1] - 1) // arch["stride"] + 1
        if arch["pool"] > 1 and length >= arch["pool"]:
            length = math.ceil(length / arch["pool"])
        lengths.append(max(length, 1))
    return lengths


def _conv(h: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv`` applied to the padded ``h (B, C, L)`` as one matrix product over unfolded windows
    (the same result as ``conv(h)``; several times faster than the library kernel's backward
    pass for networks this small on CPU)."""
    k, d, step = conv.kernel_size[0], conv.dilation[0], conv.stride[0]
    windows = h.unfold(2, d * (k - 1) + 1, step)[..., ::d]  # (B, C, L', k)
    b, c, length, _ = windows.shape
    flat = windows.permute(0, 2, 1, 3).reshape(b * length, c * k)
    out = nn.functional.linear(flat, conv.weight.reshape(conv.out_channels, c * k), conv.bias)
    return out.reshape(b, length, -1).transpose(1, 2)


def _pool(h: torch.Tensor, k: int) -> torch.Tensor:
    """Non-overlapping max pooling, ceil mode, as a reshape + ``amax``."""
    pad = (-h.shape[-1]) % k
    if pad:
        h = nn.functional.pad(h, (0, pad), value=float("-inf"))
    return h.unflatten(-1, (-1, k)).amax(-1)


class ConvEncoderNet(nn.Module):
    """``x (B, M)`` -> ``head(encoder(s * x))`` ``(B,)``."""

    def __init__(self, n_variants: int, arch: dict) -> None:
        super().__init__()
        if n_variants < 1:
            raise ValueError("the network needs at least one variant")
        self.s = nn.Parameter(torch.full((n_variants,), float(arch["scaling_init"])))
        k, d = arch["kernel_size"], arch["dilation"]
        total = d * (k - 1)
        self.padding = (total // 2, total - total // 2)
        act = _ACTIVATIONS[arch["activation"]]
        self.convs, self.pools, c_in = nn.ModuleList(), [], 1
        for c_out, length in zip(arch["channels"], block_lengths(n_variants, arch), strict=False):
            self.convs.append(nn.Conv1d(c_in, c_out, k, stride=arch["stride"], dilation=d))
            pooled = arch["pool"] > 1 and (length - 1) // arch["stride"] + 1 >= arch["pool"]
            self.pools.append(arch["pool"] if pooled else 1)
            c_in = c_out
        self.act = act()
        flat = c_in * block_lengths(n_variants, arch)[-1]
        drop = nn.Dropout(arch["dropout"]) if arch["dropout"] > 0 else nn.Identity()
        self.head = nn.Sequential(
            nn.Linear(flat, arch["hidden"]), act(), drop, nn.Linear(arch["hidden"], 1)
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = (x * self.s).unsqueeze(1)
        for conv, pool in zip(self.convs, self.pools, strict=True):
            h = self.act(_conv(nn.functional.pad(h, self.padding), conv))
            if pool > 1:
                h = _pool(h, pool)
        return self.head(h.flatten(1)).squeeze(1)


def build_network(n_variants: int, arch: dict, *, seed: int, device: torch.device) -> nn.Module:
    """A freshly initialised network, the same for the same seed (fitting, CV folds, loading)."""
    from twasnet.device import seed_everything

    seed_everything(seed)
    return ConvEncoderNet(n_variants, arch).to(device)
