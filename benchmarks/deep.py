"""Per-gene training time of cnn / cnn_annot next to the elastic net they nest, in one run.

Genotype-like data: a latent AR(1) Gaussian per individual thresholded into 0/1/2 by each
variant's MAF; expression = 5 additive causal variants (+ with ``--interaction`` a product of two
of them) + noise (h2 0.2). n = 600 (480 training, 10 inner folds), p in {1000, 3000}, the model
settings of config/config.yaml, 2 CPU threads; a CUDA column when CUDA is available. The
cnn_annot prior is fitted on ``--prior-genes`` genes first (its time is printed apart). The ratio
column is a model's time over enet's on the same gene. Target (issue 14): <= 3x on CPU.
enet_annot (the core cnn_annot nests: one elastic-net path per penalty strength) is timed too,
with cnn_annot's time over it. ``--controls`` also times lasso, blup, top1 and enet_features.
Run: ``.venv/bin/python benchmarks/deep.py [--genes 3] [--prior-genes 4] [--interaction]``.
"""

from __future__ import annotations

# isort: off
import twasnet  # noqa: F401  first: sets OMP_WAIT_POLICY before torch starts OpenMP

# isort: on
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from scipy.stats import norm

from twasnet.models.deep import AnnotatedCNNModel, CNNModel
from twasnet.models.deep.prior import fit_prior, save_prior
from twasnet.models.enet import ElasticNetModel
from twasnet.models.enet_annot import AnnotatedElasticNetModel
from twasnet.models.registry import TrainingInputs, make_model

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def genotypes(rng: np.random.Generator, n: int, p: int, rho: float = 0.9) -> np.ndarray:
    """(n, p) dosages in {0, 1, 2} with AR(1) LD along the variant axis."""
    z = np.empty((n, p))
    z[:, 0] = rng.standard_normal(n)
    e = rng.standard_normal((n, p)) * np.sqrt(1 - rho**2)
    for j in range(1, p):
        z[:, j] = rho * z[:, j - 1] + e[:, j]
    maf = rng.uniform(0.05, 0.5, p)
    return (z > norm.ppf((1 - maf) ** 2)).astype(float) + (z > norm.ppf(1 - maf**2))


def gene(seed: int, n: int, p: int, interaction: bool = False):
    rng = np.random.default_rng(seed)
    x = genotypes(rng, n, p)
    causal = rng.choice(p, 5, replace=False)
    g = x[:, causal] @ rng.normal(0, 1, 5)
    if interaction:
        z = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)
        g = g + z[:, causal[0]] * z[:, causal[1]] * g.std()
    y = g + rng.normal(0, g.std() * 2.0, n)
    features = np.column_stack(
        [np.isin(np.arange(p), causal) | (rng.random(p) < 0.05), rng.random(p), x.mean(0) / 2]
    ).astype(np.float32)
    return x, y, features


def inputs_of(x, y, f, *, seed, threads, n_train=480):
    return TrainingInputs(
        x=x[:n_train],
        y=y[:n_train],
        folds=np.arange(n_train) % 10,
        variants=pd.DataFrame(),
        features=f,
        seed=seed,
        threads=threads,
        gene_id=f"gene{seed}",
    )


def timed(model, inputs, x, y, n_train=480):
    start = time.perf_counter()
    model.fit(inputs)
    seconds = time.perf_counter() - start
    r2 = float(np.corrcoef(model.predict(x[n_train:]), y[n_train:])[0, 1] ** 2)
    return seconds, r2


def warm_up() -> float:
    """Seconds of torch's one-off start-up (the first optimiser imports torch._dynamo), paid once
    per training job, not per gene: timed apart so it is not charged to the first gene."""
    start = time.perf_counter()
    net = torch.nn.Linear(2, 1)
    torch.optim.AdamW(net.parameters()).step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--genes", type=int, default=3, help="genes timed per p")
    parser.add_argument("--prior-genes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--interaction", action="store_true")
    parser.add_argument(
        "--controls", action="store_true", help="also time lasso, blup, top1, enet_features"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(CONFIG.read_text())
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch start-up (once per job): {warm_up():.1f} s")
    rows = []
    for p in (1000, 3000):
        prior_genes = [
            (
                f"prior{i}",
                inputs_of(
                    *gene(1000 + i, 480, p, args.interaction), seed=1000 + i, threads=args.threads
                ),
            )
            for i in range(args.prior_genes)
        ]
        start = time.perf_counter()
        prior = fit_prior(prior_genes, seed=1, prior=config["cnn_annot"]["prior"])
        print(f"p={p}: prior over {args.prior_genes} genes {time.perf_counter() - start:.1f} s")
        path = Path(tempfile.mkdtemp()) / "prior.json"
        save_prior(prior, path)
        for g in range(args.genes):
            x, y, f = gene(g, 600, p, args.interaction)
            inputs = inputs_of(x, y, f, seed=g, threads=args.threads)
            row = {"p": p, "gene": g}
            row["enet_s"], row["enet_r2"] = timed(ElasticNetModel(), inputs, x, y)
            annot = AnnotatedElasticNetModel(
                **{**config["enet_annot"], "prior_state": prior["additive"]}
            )
            row["enet_annot_s"], row["enet_annot_r2"] = timed(annot, inputs, x, y)
            row["enet_annot_ratio"] = row["enet_annot_s"] / row["enet_s"]
            for name in ("lasso", "blup", "top1", "enet_features") if args.controls else ():
                model = make_model(name, config.get(name) or {})
                row[f"{name}_s"], row[f"{name}_r2"] = timed(model, inputs, x, y)
                row[f"{name}_ratio"] = row[f"{name}_s"] / row["enet_s"]
            for dev in devices:
                for name, cls, extra in (
                    ("cnn", CNNModel, {}),
                    ("cnn_annot", AnnotatedCNNModel, {"prior_path": str(path)}),
                ):
                    params = {**config[name], **extra, "device": dev}
                    model = cls(**params)
                    row[f"{name}_{dev}_s"], row[f"{name}_{dev}_r2"] = timed(model, inputs, x, y)
                    row[f"{name}_{dev}_ratio"] = row[f"{name}_{dev}_s"] / row["enet_s"]
                    row[f"{name}_{dev}_nonlinear"] = model.hyperparameters()["nonlinear_used"]
                row[f"cnn_annot_{dev}_vs_enet_annot"] = (
                    row[f"cnn_annot_{dev}_s"] / row["enet_annot_s"]
                )
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
