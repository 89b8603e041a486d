"""Genes per second of the deep models' encoder stage, one gene after another against a chunk's
genes trained as one stack (`<deep>.batch_genes`), in one run, on the CPU and on CUDA when
present; and what a whole transcriptome's deep models would cost.

Data as in benchmarks/deep.py (n = 600: 480 training rows in 10 inner folds; p in {1000, 3000};
the cnn settings of config/config.yaml; half the genes with a pairwise interaction so their
encoders train on, half additive so theirs stop early). The cores and terms
(:meth:`CNNModel.fit_before_encoder`, CPU work whatever the device) are fitted once per distinct
gene and timed apart ("cpu part"); the encoder stage is then timed per device for max(B, 8)
genes (copies of the distinct genes, each with its own seed, so their networks differ) fitted B
at a time: B = 1 is the per-gene loop. ``ratio``: genes/s over the per-gene loop's on the same
device. ``transcriptome h``: 20,000 genes x the two deep models at that rate, the
encoder stage alone and with the cpu part (one CPU thread per job). GPU figures are printed only
when a GPU ran them. Run: ``.venv/bin/python benchmarks/batched.py [--batches 1 8 32 128]``.
"""

from __future__ import annotations

# isort: off
import twasnet  # noqa: F401  first: sets OMP_WAIT_POLICY before torch starts OpenMP

# isort: on
import argparse
import copy
import dataclasses
import time
from pathlib import Path

import pandas as pd
import torch
import yaml
from deep import gene, inputs_of, warm_up

from twasnet.models.deep import CNNModel, fit_encoders

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
GENES, DEEP_MODELS = 20_000, 2


def prepared(p: int, distinct: int, params: dict, threads: int):
    """``distinct`` genes' models after their core and terms, and the mean seconds that took."""
    models, pending, start = [], [], time.perf_counter()
    for g in range(distinct):
        x, y, f = gene(g, 600, p, interaction=g % 2 == 0)
        model = CNNModel(**params)
        pending.append(model.fit_before_encoder(inputs_of(x, y, f, seed=g, threads=threads)))
        models.append(model)
    return models, pending, (time.perf_counter() - start) / distinct


def copies(models, pending, size: int):
    """``size`` genes cycling over the distinct ones, each copy with a seed of its own."""
    out_m, out_p = [], []
    for k in range(size):
        m, p = models[k % len(models)], pending[k % len(pending)]
        out_m.append(copy.copy(m))
        seed = p.plan.seed + 1000 * k
        plan, refit = (dataclasses.replace(q, seed=seed) for q in (p.plan, p.refit))
        out_p.append(dataclasses.replace(p, plan=plan, refit=refit))
    return out_m, out_p


def timed(models, pending, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fit_encoders(models, pending)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def rows_for(p: int, device: str, args, params: dict) -> list[dict]:
    """Per batch size B: max(B, --loop-genes) genes (the same mix of distinct genes at every B)
    fitted B at a time; B = 1 is the per-gene loop."""
    params = params | {"device": device}
    models, pending, cpu_part = prepared(p, args.distinct, params, args.threads)
    rows = []
    for size in args.batches:
        genes = max(size, args.loop_genes)
        all_m, all_p = copies(models, pending, genes)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        seconds = sum(
            timed(all_m[k : k + size], all_p[k : k + size], device) for k in range(0, genes, size)
        )
        mode = "per-gene loop" if size == 1 else "batched"
        row = {"p": p, "device": device, "mode": mode, "B": size, "genes": genes}
        row["genes/s"] = genes / seconds
        if device == "cuda":
            row["peak GiB"] = torch.cuda.max_memory_allocated() / 2**30
        rows.append(row)
    per_gene = rows[0]["genes/s"] if args.batches[0] == 1 else float("nan")
    for row in rows:
        row["ratio"] = row["genes/s"] / per_gene
        row["cpu part s/gene"] = cpu_part
        hours = GENES * DEEP_MODELS / 3600
        row["transcriptome h (encoder)"] = hours / row["genes/s"]
        row["transcriptome h (+cpu part)"] = hours * (1 / row["genes/s"] + cpu_part)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--distinct", type=int, default=4, help="distinct genes per p")
    parser.add_argument("--loop-genes", type=int, default=8, help="genes timed one by one")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--p", type=int, nargs="+", default=[1000, 3000])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = dict(yaml.safe_load(CONFIG.read_text())["cnn"])
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch start-up (once per job): {warm_up():.1f} s; devices: {devices}", flush=True)
    rows = []
    for p in args.p:
        for device in devices:
            rows += rows_for(p, device, args, params)
            print(pd.DataFrame(rows[-len(args.batches) :]).round(4).to_string(), flush=True)
    print("\nall:\n" + pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
