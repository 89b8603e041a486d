"""The one network builder: per-variant input scaling -> 1-D conv encoder -> dense head.

Shapes: standardised dosages of a gene's candidate variants ``(N, M)`` in genomic order; the
scaling ``s (M,)``, one weight per variant (L1-penalised: the paper's sparse input layer); the
output ``(N,)``. The head's read-out starts at exactly 0, so a fresh network predicts 0: fitted
to a residual, it starts as "no addition" and only grows where training asks for it.

:class:`EncoderStack` holds ``B`` such networks of one shape as stacked parameters (a leading
member axis): the folds of one gene's inner CV, or of many genes trained together on one GPU.
Every member's arithmetic is its own batch entry of batched matrix products, the same whether it
is trained alone or among others (``tests/test_batched.py``); a single gene's saved network is a
stack of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def _pool(h: torch.Tensor, k: int) -> torch.Tensor:
    """Non-overlapping max pooling, ceil mode, as a reshape + ``amax``."""
    pad = (-h.shape[-1]) % k
    if pad:
        h = nn.functional.pad(h, (0, pad), value=float("-inf"))
    return h.unflatten(-1, (-1, k)).amax(-1)


def _pools(n_variants: int, arch: dict) -> list[int]:
    """The pooling width of each block (1 where the sequence is already shorter than it)."""
    lengths = block_lengths(n_variants, arch)
    return [
        arch["pool"] if arch["pool"] > 1 and (n - 1) // arch["stride"] + 1 >= arch["pool"] else 1
        for n in lengths[:-1]
    ]


def member_parameters(n_variants: int, arch: dict, *, seed: int) -> list[torch.Tensor]:
    """One freshly initialised network's parameters, in :class:`EncoderStack` order and layout
    (matrices as ``(inputs, outputs)``): torch's own initialisation of ``nn.Conv1d`` and
    ``nn.Linear`` layers after seeding with ``seed``, the read-out zeroed, ``s`` at
    ``scaling_init``. The same seed gives the same network (fitting, CV folds, batched or not)."""
    from twasnet.device import seed_everything

    if n_variants < 1:
        raise ValueError("the network needs at least one variant")
    seed_everything(seed)
    k, d, c_in, out = arch["kernel_size"], arch["dilation"], 1, []
    for c_out in arch["channels"]:
        conv = nn.Conv1d(c_in, c_out, k, stride=arch["stride"], dilation=d)
        out += [conv.weight.detach().reshape(c_out, c_in * k).T, conv.bias.detach()[None]]
        c_in = c_out
    flat = c_in * block_lengths(n_variants, arch)[-1]
    hidden = nn.Linear(flat, arch["hidden"])
    out += [hidden.weight.detach().T, hidden.bias.detach()[None]]
    out += [torch.zeros(arch["hidden"], 1), torch.zeros(1, 1)]  # the read-out: a fresh net is 0
    s = torch.full((n_variants,), float(arch["scaling_init"]))
    return [s, *(t.contiguous() for t in out)]


class EncoderStack(nn.Module):
    """``B`` conv encoders over ``M`` variants: ``x (B, N, M)`` -> ``(B, N)``, member ``b``
    computed from ``x[b]`` with its own parameters (``s (B, M)``, ``weights`` and ``biases`` of
    each conv block and of the head, stacked on the first axis)."""

    def __init__(self, n_variants: int, arch: dict, members: Sequence[list[torch.Tensor]]):
        super().__init__()
        if not members:
            raise ValueError("a stack needs at least one network")
        self.n_variants, self.arch = int(n_variants), dict(arch)
        stacked = [nn.Parameter(torch.stack(ts)) for ts in zip(*members, strict=True)]
        self.s = stacked[0]
        self.weights = nn.ParameterList(stacked[1::2])
        self.biases = nn.ParameterList(stacked[2::2])
        k, d = arch["kernel_size"], arch["dilation"]
        total = d * (k - 1)
        self.padding = (total // 2, total - total // 2)
        self.pools = _pools(self.n_variants, arch)
        self.act = _ACTIVATIONS[arch["activation"]]()
        self.drop = nn.Dropout(arch["dropout"]) if arch["dropout"] > 0 else nn.Identity()

    @classmethod
    def from_state(cls, n_variants: int, arch: dict, state: dict) -> EncoderStack:
        """The stack whose ``state_dict()`` was ``state``."""
        layers = sum(1 for key in state if key.startswith("weights."))
        order = ["s"] + [f"{kind}.{i}" for i in range(layers) for kind in ("weights", "biases")]
        members = [[state[key][b] for key in order] for b in range(state["s"].shape[0])]
        return cls(n_variants, arch, members)

    @property
    def members(self) -> int:
        return self.s.shape[0]

    def select(self, index: Sequence[int]) -> EncoderStack:
        """A new stack of the members ``index`` (copies of their current parameters)."""
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.s.device)
        state = {key: value[idx] for key, value in self.state_dict().items()}
        return EncoderStack.from_state(self.n_variants, self.arch, state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        k, d, step = self.arch["kernel_size"], self.arch["dilation"], self.arch["stride"]
        h = (x * self.s[:, None, :]).reshape(b * n, 1, -1)  # (B N, channels, length)
        for w, bias, pool in zip(self.weights[:-2], self.biases[:-2], self.pools, strict=True):
            windows = nn.functional.pad(h, self.padding).unfold(2, d * (k - 1) + 1, step)
            windows = windows[..., ::d]  # (B N, C, L', k): the conv as one product per member
            length = windows.shape[2]
            flat = windows.permute(0, 2, 1, 3).reshape(b, n * length, -1)
            h = self.act(torch.bmm(flat, w) + bias).reshape(b * n, length, -1).transpose(1, 2)
            if pool > 1:
                h = _pool(h, pool)
        h = h.reshape(b, n, -1)
        h = self.drop(self.act(torch.bmm(h, self.weights[-2]) + self.biases[-2]))
        # the read-out as a product and a sum: a batched matrix-vector product would take a
        # different kernel for one member than for several, and round differently
        return (h * self.weights[-1].transpose(1, 2)).sum(-1) + self.biases[-1][:, :, 0]


def build_network(
    n_variants: int, arch: dict, *, seeds: Sequence[int], device: torch.device | str
) -> EncoderStack:
    """A stack of freshly initialised networks, member ``b`` from ``seeds[b]``."""
    members = [member_parameters(n_variants, arch, seed=s) for s in seeds]
    return EncoderStack(n_variants, arch, members).to(device)
