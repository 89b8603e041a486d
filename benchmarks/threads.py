"""One `cnn` fit on 1 and 2 torch threads, with OpenMP threads waiting actively and passively.

Each cell is a fresh process, because ``OMP_WAIT_POLICY`` is read when torch loads its OpenMP
runtime. Gene as in ``benchmarks/deep.py`` (n = 600, 480 training), a short fit (the elastic-net
core, the term screen and 20 encoder epochs per CV fold). The ratio is against 1 thread with
passive waiting, in the same run. Run: ``.venv/bin/python benchmarks/threads.py [--p 1000]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

FIT = """
import sys, time
sys.path.insert(0, {bench!r})
import numpy as np, pandas as pd, torch
from deep import gene
from twasnet.models.deep import CNNModel
from twasnet.models.registry import TrainingInputs
x, y, f = gene(0, 600, {p})
inputs = TrainingInputs(x=x[:480], y=y[:480], folds=np.arange(480) % 10,
                        variants=pd.DataFrame(), features=f, seed=0, threads={threads})
model = CNNModel(device="cpu", n_se=0.0, training={{"max_epochs": 20}})
start = time.perf_counter()
model.fit(inputs)
print(time.perf_counter() - start)
"""


def fit_seconds(*, policy: str, threads: int, p: int) -> float:
    code = FIT.format(bench=str(Path(__file__).parent), p=p, threads=threads)
    env = dict(os.environ, OMP_WAIT_POLICY=policy)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--p", type=int, default=1000, help="variants")
    args = parser.parse_args()
    rows = [
        {
            "wait policy": policy,
            "threads": threads,
            "seconds": fit_seconds(policy=policy, threads=threads, p=args.p),
        }
        for policy in ("PASSIVE", "ACTIVE")
        for threads in (1, 2)
    ]
    table = pd.DataFrame(rows)
    table["ratio"] = table["seconds"] / table["seconds"].iloc[0]
    print(f"one cnn fit, p = {args.p}, cores on this machine: {os.cpu_count()}")
    print(table.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
