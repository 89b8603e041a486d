"""Compute device choice and seeding for the deep models (torch)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

_DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str = "auto") -> torch.device:
    """The torch device for ``requested``: "auto" (CUDA when available, else CPU), "cpu" or "cuda".

    Asking for "cuda" on a machine without a usable CUDA GPU raises ``RuntimeError`` saying so.
    """
    choice = str(requested).strip().lower()
    if choice not in _DEVICES:
        raise ValueError(f"device must be one of {list(_DEVICES)}, got {requested!r}")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was requested but torch sees no usable CUDA GPU "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
            "set the model's device to 'auto' or 'cpu', or install a CUDA build of torch"
        )
    return torch.device(choice)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) and make torch use deterministic algorithms.

    Sets ``CUBLAS_WORKSPACE_CONFIG`` (when unset) so cuBLAS is deterministic on CUDA; this must
    happen before the first cuBLAS call of the process to take effect there.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    seed = int(seed) % (2**32)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeding the legacy global generator is the point
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every new empty tensor with NaN (a debugging aid, not needed
    # for reproducibility) which made CPU training ~2.5x slower in benchmarks/deep.py.
    torch.utils.deterministic.fill_uninitialized_memory = False
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
