"""Device resolution and seeding for the deep models."""

from __future__ import annotations

import os
import subprocess
import sys

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


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_importing_twasnet_makes_openmp_threads_wait_passively_unless_told(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    code = "import os, twasnet; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == expected, out.stderr
