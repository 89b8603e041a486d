"""Device resolution and seeding for the deep models."""

from __future__ import annotations

import pytest
import torch

from twasnet.device import resolve_device, seed_everything


def test_auto_gives_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        resolve_device("cuda")


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")


def test_seed_everything_repeats_random_draws_and_is_deterministic():
    seed_everything(5)
    a = torch.randn(4)
    seed_everything(5)
    assert torch.equal(a, torch.randn(4))
    assert torch.are_deterministic_algorithms_enabled()
