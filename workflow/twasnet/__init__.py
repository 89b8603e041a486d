"""twasnet: stage 1 of TWAS — per-gene expression prediction from cis genotypes."""

import os

# OpenMP threads that spin while waiting made torch on 2 threads ~20x slower than on 1 for our
# small networks on a 2-vCPU machine (benchmarks/threads.py); passive waiting costs little. Must be
# set before torch loads its OpenMP runtime; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
