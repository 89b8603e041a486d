"""Per-gene training time of cnn / cnn_annot (frozen prior) next to elastic net.

Genotype-like data: a latent AR(1) Gaussian per individual thresholded into 0/1/2 by each
variant's MAF; expression = 5 additive causal variants + noise (h2 0.2). n = 600 (480 training,
10 inner folds), p in {1000, 3000}, 2 CPU threads; a CUDA column when CUDA is available.
Run: ``.venv/bin/python benchmarks/deep.py [--genes 3] [--prior-genes 4]``.
"""

from __future__ import annotations

# isort: off
import twasnet  # noqa: F401  first: sets OMP_WAIT_POLICY before torch starts OpenMP

# isort: on
import argparse
import time

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm

from twasnet.models.deep import (
    AnnotatedCNNModel,
    CNNModel,
    PriorGene,
    save_prior,
    train_annotation_prior,
)
from twasnet.models.enet import ElasticNetCV
from twasnet.models.registry import TrainingInputs


def genotypes(rng: np.random.Generator, n: int, p: int, rho: float = 0.9) -> np.ndarray:
    """(n, p) dosages in {0, 1, 2} with AR(1) LD along the variant axis."""
    z = np.empty((n, p))
    z[:, 0] = rng.standard_normal(n)
    e = rng.standard_normal((n, p)) * np.sqrt(1 - rho**2)
    for j in range(1, p):
        z[:, j] = rho * z[:, j - 1] + e[:, j]
    maf = rng.uniform(0.05, 0.5, p)
    return (z > norm.ppf((1 - maf) ** 2)).astype(float) + (z > norm.ppf(1 - maf**2))


def gene(seed: int, n: int, p: int):
    rng = np.random.default_rng(seed)
    x = genotypes(rng, n, p)
    causal = rng.choice(p, 5, replace=False)
    g = x[:, causal] @ rng.normal(0, 1, 5)
    y = g + rng.normal(0, g.std() * 2.0, n)
    features = np.column_stack(
        [np.isin(np.arange(p), causal) | (rng.random(p) < 0.05), rng.random(p), x.mean(0) / 2]
    ).astype(np.float32)
    return x, y, features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--genes", type=int, default=2, help="genes timed per p")
    parser.add_argument("--prior-genes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n, n_train = 600, 480
    folds = np.arange(n_train) % 10
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for p in (1000, 3000):
        prior_genes = []
        for i in range(args.prior_genes):
            x, y, f = gene(1000 + i, n_train, p)
            prior_genes.append(PriorGene(x=x, y=y, folds=folds, features=f))
        start = time.perf_counter()
        prior = train_annotation_prior(
            prior_genes, seed=1, device="cpu", threads=args.threads, prior={"max_epochs": 40}
        )
        prior_s = time.perf_counter() - start
        path = f"/tmp/twasnet_bench_prior_{p}.pt"
        save_prior(prior, path)
        print(
            f"p={p}: prior over {args.prior_genes} genes {prior_s:.1f} s "
            f"({prior['n_epochs_run']} epochs)",
            flush=True,
        )
        for g in range(args.genes):
            x, y, f = gene(g, n, p)
            train, test = np.arange(n_train), np.arange(n_train, n)
            inputs = TrainingInputs(
                x=x[train],
                y=y[train],
                folds=folds,
                variants=pd.DataFrame(),
                features=f,
                seed=g,
                threads=args.threads,
            )
            row = {"p": p, "gene": g}

            def r2(pred, y=y, test=test):
                return float(np.corrcoef(pred, y[test])[0, 1] ** 2)

            start = time.perf_counter()
            enet = ElasticNetCV(n_threads=args.threads).fit(x[train], y[train], folds=folds)
            row["enet_s"] = time.perf_counter() - start
            row["enet_r2"] = r2(enet.predict(x[test]))
            for dev in devices:
                for name, model in (
                    ("cnn", CNNModel(device=dev)),
                    ("annot", AnnotatedCNNModel(prior_path=path, device=dev)),
                ):
                    start = time.perf_counter()
                    model.fit(inputs)
                    row[f"{name}_{dev}_s"] = time.perf_counter() - start
                    row[f"{name}_{dev}_r2"] = r2(model.predict(x[test]))
                    row[f"{name}_{dev}_epochs"] = model.hyperparameters()["n_epochs_run"]
            rows.append(row)
            print(
                "  "
                + "  ".join(
                    f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                ),
                flush=True,
            )
    table = pd.DataFrame(rows)
    print(table.groupby("p").mean(numeric_only=True).drop(columns="gene").round(3).T.to_string())


if __name__ == "__main__":
    main()
