"""Configuration of the deep models: defaults and checks (every key in config/README.md)."""

from __future__ import annotations

import math

__all__ = ["ARCHITECTURE_DEFAULTS", "TERMS_DEFAULTS", "TRAINING_DEFAULTS", "check_section"]

# the conv encoder + head fitted to what the elastic net (and the accepted terms) leave
ARCHITECTURE_DEFAULTS: dict = {
    "candidates": 64,  # variants the encoder reads (in genomic order): twasnet.models.terms
    "channels": [4, 8],
    "kernel_size": 5,
    "stride": 2,
    "dilation": 1,
    "pool": 1,
    "activation": "relu",
    "dropout": 0.0,
    "hidden": 16,
    "scaling_init": 1.0,  # the per-variant input scaling s starts here (L1 on s, proximal)
}
TRAINING_DEFAULTS: dict = {
    "lr": 0.003,
    "weight_decay": 0.0001,
    "max_epochs": 60,  # the epoch count is chosen by K-fold CV between 0 and this
    "patience": 5,  # stop once the K-fold CV error has not improved for this many epochs
    "l1_scaling": 0.01,
    "lr_scaling": 0.01,  # learning rate of s (0: lr)
}
# nonlinear terms screened against the elastic net's residual (twasnet.models.terms)
TERMS_DEFAULTS: dict = {
    "dominance": True,
    "pairs": True,
    "candidates": 128,  # variants whose pairs are tested
    "max_terms": 8,
    "alpha": 0.05,  # family-wise level of the screen (weighted Bonferroni)
}
_ACTIVATIONS = ("relu", "gelu", "elu")


def check_section(name: str, given: dict | None, defaults: dict) -> dict:
    """``given`` completed with ``defaults`` and checked; ``ValueError`` naming ``name.key``."""
    given = dict(given or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {name} key(s) {sorted(unknown)}; known: {sorted(defaults)}")
    out = {**defaults, **given}
    for key, default in defaults.items():
        value = out[key]
        if isinstance(default, bool):
            out[key] = bool(value)
        elif isinstance(default, int):
            out[key] = int(value)
            if out[key] < (0 if key in ("max_epochs",) else 1):
                raise ValueError(f"{name}.{key} must be >= 1, got {value}")
        elif isinstance(default, float):
            out[key] = float(value or 0.0)
            if not math.isfinite(out[key]) or out[key] < 0:
                raise ValueError(f"{name}.{key} must be a finite number >= 0, got {value}")
        elif isinstance(default, list):
            out[key] = [int(v) for v in value]
            if not out[key] or min(out[key]) < 1:
                raise ValueError(f"{name}.{key} must be a non-empty list of integers >= 1")
    if name == "architecture" and out["activation"] not in _ACTIVATIONS:
        raise ValueError(f"architecture.activation must be one of {_ACTIVATIONS}")
    if name == "architecture" and not out["dropout"] < 1:
        raise ValueError("architecture.dropout must be in [0, 1)")
    if name == "terms" and not 0 < out["alpha"] < 1:
        raise ValueError(f"terms.alpha must be in (0, 1), got {out['alpha']}")
    if name == "training":
        out["lr_scaling"] = out["lr_scaling"] or out["lr"]
        if not out["lr"] > 0:
            raise ValueError("training.lr must be > 0")
    return out
