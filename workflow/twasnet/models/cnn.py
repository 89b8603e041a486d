"""Torch modules of the deep models: input scaling, 1-D conv encoder, annotation prior.

Shapes: a batch of standardised genotype channels is ``(B, C, p)`` with variants in genomic order
(``C`` = 1, the dosage, or 2 with ``genotype_encoding: additive_dominance``: the dosage and the
heterozygosity ``g (2 - g)``; a ``(B, p)`` batch is the dosage channel alone); the scaling weights
``s`` are ``(p,)`` and scale every channel of variant ``j``; the network output is ``(B,)``.

* :class:`InputScaling` -- one learnable weight ``s_j`` per variant (``cnn``).
* :class:`AnnotationPrior` -- the MLP ``f_theta`` mapping a variant's feature vector ``(d,)`` to a
  positive relevance; its parameters are the ones shared across genes.
* :class:`AnnotatedScaling` -- ``s_j = r_j^tau / mean(r^tau) * delta_j``, ``r = f_theta(a)``
  (``cnn_annot``).
* :class:`ConvBody` -- conv blocks along the variant axis, a small dense head and the optional
  linear path (a linear read-out of the scaled input added to the output).
* :class:`PairProducts` -- the optional pairwise path: ``sum_k w_k q_k`` over up to ``pairs``
  variant pairs ``(a_k, b_k)``, ``q_k`` the standardised product of their standardised dosages;
  which pairs is decided by a screen on training rows (:func:`twasnet.models.deep.screen_pairs`).
* :class:`ScaledCNN` -- scaling followed by the body, plus the pairwise path.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ARCHITECTURE_DEFAULTS: dict = {
    "channels": [8, 16],
    "kernel_size": 7,
    "stride": 2,
    "dilation": 1,
    "pool": 2,
    "activation": "relu",
    "dropout": 0.1,
    "norm": "none",  # batch norm + full-batch training: running stats lag (see module doc)
    "hidden": 16,
    "linear_path": True,
    "scaling_init": 0.01,
    "genotype_encoding": "additive",
    # pairwise path: at most this many screened variant pairs (0: none, the paper's network)
    "pairs": 0,
    # family-wise level of the pair screen (Bonferroni over all p (p - 1) / 2 pairs)
    "pairs_alpha": 0.05,
}
# Input channels per variant: the dosage g, and with "additive_dominance" also g (2 - g) (1 for
# heterozygotes), so any function of the three genotype classes is linear in the channels.
GENOTYPE_ENCODINGS = {"additive": 1, "additive_dominance": 2}

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "elu": nn.ELU}
_NORMS = ("batch", "layer", "none")


def check_architecture(arch: dict) -> dict:
    """``arch`` completed with defaults and validated (``ValueError`` naming the key)."""
    unknown = set(arch) - set(ARCHITECTURE_DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown architecture key(s) {sorted(unknown)}; known: {sorted(ARCHITECTURE_DEFAULTS)}"
        )
    out = {**ARCHITECTURE_DEFAULTS, **arch}
    out["channels"] = [int(c) for c in out["channels"]]
    if any(c < 1 for c in out["channels"]):
        raise ValueError(f"architecture.channels must be positive integers, got {out['channels']}")
    out["pairs"] = int(out["pairs"])
    out["pairs_alpha"] = float(out["pairs_alpha"])
    if out["pairs"] < 0 or not 0.0 < out["pairs_alpha"] < 1.0:
        raise ValueError(
            f"architecture.pairs must be >= 0 and pairs_alpha in (0, 1), got {out['pairs']} "
            f"and {out['pairs_alpha']}"
        )
    for key in ("kernel_size", "stride", "dilation", "pool", "hidden"):
        out[key] = int(out[key])
        if out[key] < 1:
            raise ValueError(f"architecture.{key} must be >= 1, got {out[key]}")
    if out["activation"] not in _ACTIVATIONS:
        raise ValueError(
            f"architecture.activation must be one of {sorted(_ACTIVATIONS)}, "
            f"got {out['activation']!r}"
        )
    if out["norm"] not in _NORMS:
        raise ValueError(f"architecture.norm must be one of {list(_NORMS)}, got {out['norm']!r}")
    if not 0.0 <= float(out["dropout"]) < 1.0:
        raise ValueError(f"architecture.dropout must be in [0, 1), got {out['dropout']}")
    out["dropout"] = float(out["dropout"])
    out["scaling_init"] = float(out["scaling_init"])
    out["linear_path"] = bool(out["linear_path"])
    if out["genotype_encoding"] not in GENOTYPE_ENCODINGS:
        raise ValueError(
            f"architecture.genotype_encoding must be one of {sorted(GENOTYPE_ENCODINGS)}, "
            f"got {out['genotype_encoding']!r}"
        )
    return out


def conv_output_length(length: int, *, kernel_size: int, stride: int, dilation: int) -> int:
    """Length after one conv of the encoder: "same" padding (``dilation * (kernel_size - 1)`` zeros
    split left/right, the extra one on the right), then the stride: ``ceil(length / stride)``."""
    return (length - 1) // stride + 1


def pool_output_length(length: int, pool: int) -> int:
    """Length after the block's max pooling (ceil mode; no pooling when ``length < pool``)."""
    if pool <= 1 or length < pool:
        return length
    return math.ceil((length - pool) / pool) + 1


def block_lengths(n_variants: int, arch: dict) -> list[int]:
    """Sequence length after each conv block, starting with ``n_variants`` (len = blocks + 1)."""
    lengths = [n_variants]
    for _ in arch["channels"]:
        length = conv_output_length(
            lengths[-1],
            kernel_size=arch["kernel_size"],
            stride=arch["stride"],
            dilation=arch["dilation"],
        )
        lengths.append(pool_output_length(max(length, 1), arch["pool"]))
    return lengths


class MaxPool(nn.Module):
    """Non-overlapping max pooling along the last axis, ceil mode: ``(B, C, L) -> (B, C,
    ceil(L / k))``. A reshape + ``amax``: several times faster on CPU than ``nn.MaxPool1d``."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = int(k)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        pad = (-h.shape[-1]) % self.k
        if pad:
            h = nn.functional.pad(h, (0, pad), value=float("-inf"))
        return h.unflatten(-1, (-1, self.k)).amax(-1)


class ConvBlock(nn.Module):
    """conv -> norm -> activation -> max pool -> dropout; ``(B, C_in, L) -> (B, C_out, L')``."""

    def __init__(self, c_in: int, c_out: int, *, length_in: int, arch: dict) -> None:
        super().__init__()
        k, d = arch["kernel_size"], arch["dilation"]
        total = d * (k - 1)
        self.padding = (total // 2, total - total // 2)
        self.conv = nn.Conv1d(c_in, c_out, k, stride=arch["stride"], dilation=d)
        if arch["norm"] == "batch":
            self.norm = nn.BatchNorm1d(c_out)
        elif arch["norm"] == "layer":
            self.norm = nn.GroupNorm(1, c_out)  # normalises over (channels, positions) per sample
        else:
            self.norm = nn.Identity()
        self.act = _ACTIVATIONS[arch["activation"]]()
        length = conv_output_length(length_in, kernel_size=k, stride=arch["stride"], dilation=d)
        pool = arch["pool"]
        self.pool = MaxPool(pool) if pool > 1 and length >= pool else nn.Identity()
        self.drop = nn.Dropout(arch["dropout"]) if arch["dropout"] > 0 else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.conv(nn.functional.pad(h, self.padding))
        return self.drop(self.pool(self.act(self.norm(h))))


class ConvBody(nn.Module):
    """Everything after the scaling: ``z (B, C, p)`` scaled standardised genotype channels ->
    ``(B,)``.

    Conv blocks along the variant axis (``C`` input channels), flatten, dense head
    (``hidden`` units, activation, dropout) to a scalar. With ``linear_path`` the sum of the
    scaled dosage channel, ``sum_j z_0j = sum_j s_j x_j``, is added: the network nests a linear
    model whose coefficients are the scaling weights themselves (so the L1 penalty on ``s`` is a
    lasso on the linear part and ``|s_j|`` reads as importance). With the heterozygosity channel
    the linear path also adds ``sum_j u_j z_1j = sum_j u_j s_j d_j`` (``u`` starts at 0).
    """

    def __init__(self, n_variants: int, arch: dict) -> None:
        super().__init__()
        arch = check_architecture(arch)
        if n_variants < 1:
            raise ValueError("the network needs at least one variant")
        lengths = block_lengths(n_variants, arch)
        c_in = self.n_channels = GENOTYPE_ENCODINGS[arch["genotype_encoding"]]
        blocks = []
        for c_out, length_in in zip(arch["channels"], lengths[:-1], strict=True):
            blocks.append(ConvBlock(c_in, c_out, length_in=length_in, arch=arch))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.flat_size = c_in * lengths[-1]
        self.head = nn.Sequential(
            nn.Linear(self.flat_size, arch["hidden"]),
            _ACTIVATIONS[arch["activation"]](),
            nn.Dropout(arch["dropout"]) if arch["dropout"] > 0 else nn.Identity(),
            nn.Linear(arch["hidden"], 1),
        )
        # The head's read-out starts at exactly 0, so a freshly built network *is* its linear path
        # (or the constant 0): the nonlinear part only grows where the data ask for it.
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.linear_path = arch["linear_path"]
        # With the heterozygosity channel the linear path is additive + dominance: variant j adds
        # s_j x_j + u_j s_j d_j, so s_j still switches the variant on or off (the L1 acts on s)
        # and u_j, starting at 0, is its dominance deviation relative to the additive effect.
        self.dominance = (
            nn.Parameter(torch.zeros(n_variants))
            if self.linear_path and self.n_channels == 2
            else None
        )

    def forward(self, z: torch.Tensor, *, linear_only: bool = False) -> torch.Tensor:
        """``linear_only``: just the linear path ``sum_j z_0j`` (equal to the full output while
        the head's read-out is still 0, at a fraction of the cost)."""
        if z.ndim == 2:
            z = z.unsqueeze(1)
        if z.shape[1] != self.n_channels:
            raise ValueError(
                f"the body expects {self.n_channels} genotype channel(s) per variant, got "
                f"{z.shape[1]} (twasnet.models.deep.genotype_channels builds them)"
            )
        linear = z[:, 0].sum(1)
        if self.dominance is not None:
            linear = linear + (z[:, 1] * self.dominance).sum(1)
        if linear_only:
            return linear
        out = self.head(self.blocks(z).flatten(1)).squeeze(1)
        if self.linear_path:
            out = out + linear
        return out


class InputScaling(nn.Module):
    """One learnable weight per variant, ``s (p,)``, initialised to ``init``."""

    def __init__(self, n_variants: int, init: float) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.full((n_variants,), float(init)))

    def weights(self) -> torch.Tensor:
        """The effective scaling weights ``(p,)``."""
        return self.s


class AnnotationPrior(nn.Module):
    """``f_theta``: raw features ``(p, d)`` -> relevance ``r (p,)`` > 0, shared across genes.

    Features are standardised with the stored ``feature_mean``/``feature_sd`` buffers (statistics
    over the variants of the genes the prior is trained on); a softplus keeps ``r`` positive. The
    last layer starts at weights 0 and the bias that makes ``r = 1`` for every variant, so a fresh
    prior says nothing and the annotated model starts as :class:`InputScaling`'s.
    """

    def __init__(
        self,
        n_features: int,
        hidden: list[int],
        *,
        feature_mean: torch.Tensor,
        feature_sd: torch.Tensor,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.register_buffer("feature_mean", torch.as_tensor(feature_mean, dtype=torch.float32))
        self.register_buffer("feature_sd", torch.as_tensor(feature_sd, dtype=torch.float32))
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), _ACTIVATIONS[activation]()]
            width = int(h)
        last = nn.Linear(width, 1)
        nn.init.zeros_(last.weight)
        nn.init.constant_(last.bias, math.log(math.e - 1.0))  # softplus(bias) = 1
        self.mlp = nn.Sequential(*layers, last)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        a = (features - self.feature_mean) / self.feature_sd
        return nn.functional.softplus(self.mlp(a).squeeze(1))


class AnnotatedScaling(nn.Module):
    """``s_j = (r_j^tau / mean_k r_k^tau) * delta_j``: the shared prior's relevance
    ``r = f_theta(a)`` raised to the prior strength ``tau``, normalised to mean 1 over the gene's
    variants, times a gene-specific weight ``delta``.

    With the L1 penalty ``lam * sum_j |delta_j|`` this is the lasso on ``s`` with per-variant
    penalty factors ``mean(r^tau) / r_j^tau`` (glmnet's ``penalty.factor``, normalised as glmnet
    does, and ``enet_annot``'s ``r^-tau``): variants the annotations call relevant are cheaper to
    use, and the sign and size of each effect stay gene-specific. ``tau = 0`` or a constant ``r``
    gives back :class:`InputScaling` exactly. ``features`` ``(p, d)`` raw per-variant features
    and ``strength`` (tau) are buffers; ``delta`` starts at ``init``.
    """

    def __init__(
        self, prior: AnnotationPrior, features: torch.Tensor, init: float, strength: float = 1.0
    ) -> None:
        super().__init__()
        self.prior = prior
        self.register_buffer("features", torch.as_tensor(features, dtype=torch.float32))
        self.register_buffer("strength", torch.tensor(float(strength)))
        self.delta = nn.Parameter(torch.full((self.features.shape[0],), float(init)))

    def relevance(self) -> torch.Tensor:
        """``r_j^tau / mean_k r_k^tau`` (p,): the annotation-derived scale of each variant."""
        if float(self.strength) == 0.0:
            return torch.ones_like(self.delta)
        r = self.prior(self.features) ** self.strength
        return r * (1.0 / r).mean()

    def weights(self) -> torch.Tensor:
        return self.relevance() * self.delta


class PairProducts(nn.Module):
    """Pairwise path with ``n_slots`` slots: ``z (B, p)`` standardised dosages -> ``(B,)``
    ``sum_k w_k (z_{a_k} z_{b_k} - m_k) c_k``.

    The pairs ``index (n_slots, 2)`` and the product's mean ``m`` and 1/sd ``c`` are buffers set
    by :meth:`set_pairs` from training rows; only the first ``n_active`` slots are used. The
    weights ``w`` start at 0 and are L1-penalised like the scaling weights (so ``|w_k|`` reads as
    the pair's importance on the same standardised scale as ``|s_j|``)."""

    def __init__(self, n_slots: int) -> None:
        super().__init__()
        self.register_buffer("index", torch.zeros((n_slots, 2), dtype=torch.long))
        self.register_buffer("mean", torch.zeros(n_slots))
        self.register_buffer("scale", torch.zeros(n_slots))
        self.weight = nn.Parameter(torch.zeros(n_slots))
        self.n_active = 0  # the used slots are the first n_active (kept in step with the buffers)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.n_active = int((self.scale > 0).sum())

    def products(self, z: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Raw products ``z_a z_b`` (B, k) of the pairs ``index`` (k, 2), by default the active
        ones."""
        index = self.active() if index is None else index
        return z[:, index[:, 0]] * z[:, index[:, 1]]

    @torch.no_grad()
    def set_pairs(self, index: torch.Tensor, z: torch.Tensor) -> None:
        """Use the pairs ``index (k, 2)``, k <= n_slots, standardising each product over the rows
        ``z (n, p)`` (a pair whose product is constant there is left out); the weights restart
        at 0 and the remaining slots are emptied."""
        index = index.to(self.index).reshape(-1, 2)
        if index.shape[0] > self.index.shape[0]:
            raise ValueError(f"{index.shape[0]} pairs for {self.index.shape[0]} slots")
        for buffer in (self.index, self.mean, self.scale, self.weight):
            buffer.zero_()
        self.n_active = 0
        if index.shape[0] == 0:
            return
        q = self.products(z, index)
        sd = q.std(0, unbiased=False)
        keep = sd > 0
        index, q, sd = index[keep], q[:, keep], sd[keep]
        k = int(index.shape[0])
        self.n_active = k
        if k:
            self.index[:k] = index
            self.mean[:k] = q.mean(0)
            self.scale[:k] = 1.0 / sd

    def active(self) -> torch.Tensor:
        """The pairs in use (k, 2)."""
        return self.index[: self.n_active]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        k = self.n_active
        return ((self.products(z) - self.mean[:k]) * self.scale[:k]) @ self.weight[:k]


class ScaledCNN(nn.Module):
    """``x (B, C, p)`` (or ``(B, p)``) standardised genotype channels -> ``body(s * x)`` (+ the
    pairwise path on the unscaled dosage channel, when ``n_pairs`` > 0) ``(B,)``."""

    def __init__(self, scaling: nn.Module, body: ConvBody, *, n_pairs: int = 0) -> None:
        super().__init__()
        self.scaling = scaling
        self.body = body
        self.pairs = PairProducts(n_pairs) if n_pairs > 0 else None

    def linear_parameters(self) -> list[nn.Parameter]:
        """The parameters of the linear path: the scaling's, the dominance read-out and the
        pairwise path's weights."""
        extra = [self.body.dominance] if self.body.dominance is not None else []
        if self.pairs is not None:
            extra.append(self.pairs.weight)
        return [*self.scaling.parameters(), *extra]

    def forward(
        self, x: torch.Tensor, s: torch.Tensor | None = None, *, linear_only: bool = False
    ) -> torch.Tensor:
        """``s`` may be passed when already computed for this step (it does not depend on x)."""
        if s is None:
            s = self.scaling.weights()
        out = self.body(x * s, linear_only=linear_only)
        if self.pairs is not None and self.pairs.n_active:
            out = out + self.pairs(x[:, 0] if x.ndim == 3 else x)
        return out
