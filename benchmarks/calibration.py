"""Calibration and power of the paired tests across genes (twasnet.stats.paired_tests).

Each replicate simulates one study: ``n_genes`` genes, each with a true cis-h² and ``n_test``
held-out individuals (y = g + e, Var g = h²); two models predict g with their own noise. Under the
null the two models' noise has the same variance for every gene (the pair (R²_A, R²_B) is
exchangeable); under the alternative model A's noise is smaller. The held-out R² of each model is
the squared Pearson correlation (twasnet.metrics.squared_correlation), and the tests are run on the
per-gene R² exactly as the compare rule runs them.

    .venv/bin/python benchmarks/calibration.py                 # 2,000 replicates per setting
    .venv/bin/python benchmarks/calibration.py --replicates 1000 --n-genes 10 30 100

Prints one row per test, number of genes and alternative: the rejection rate at α under the null
with its 99% binomial limit (the rate a calibrated test exceeds with probability ≤ 1%), and the
power under the alternative with the mean ΔR² it induces.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from twasnet.metrics import squared_correlation  # noqa: E402
from twasnet.stats import TEST_NAMES, paired_tests, per_gene_bootstrap  # noqa: E402


def simulate_paired_r2(
    rng: np.random.Generator,
    *,
    n_replicates: int,
    n_genes: int,
    n_test: int = 100,
    noise_ratio: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out R² of models A and B, each (n_replicates, n_genes).

    Per gene: h² ~ U(0.05, 0.5), the models' prediction noise has variance σ² ~ h²·U(0.5, 3)
    (genes differ in how well they can be predicted), and the two models share half of it (paired
    designs correlate). Model A's own noise is scaled by ``noise_ratio`` (1: the null; < 1: A
    better).
    """
    shape = (n_replicates, n_genes, 1)
    h2 = rng.uniform(0.05, 0.5, shape)
    sigma = np.sqrt(h2 * rng.uniform(0.5, 3.0, shape))
    g = rng.standard_normal((n_replicates, n_genes, n_test)) * np.sqrt(h2)
    y = g + rng.standard_normal(g.shape) * np.sqrt(1 - h2)
    shared = rng.standard_normal(g.shape) * sigma * np.sqrt(0.5)
    pred_a = g + shared + rng.standard_normal(g.shape) * sigma * np.sqrt(0.5) * noise_ratio
    pred_b = g + shared + rng.standard_normal(g.shape) * sigma * np.sqrt(0.5)
    return squared_correlation(y, pred_a), squared_correlation(y, pred_b)


def rejection_rates(
    a: np.ndarray, b: np.ndarray, *, alpha: float, alternative: str
) -> dict[str, float]:
    """Fraction of replicates (rows of ``a``, ``b``) in which each test rejects at ``alpha``."""
    hits = dict.fromkeys(TEST_NAMES, 0)
    for row_a, row_b in zip(a, b, strict=True):
        res = paired_tests(row_a, row_b, alternative=alternative)
        for test in TEST_NAMES:
            hits[test] += bool(res[f"{test}_p"] < alpha)
    return {test: hits[test] / len(a) for test in TEST_NAMES}


def per_gene_null_rate(
    rng: np.random.Generator,
    *,
    n_replicates: int,
    h2: float,
    n_test: int,
    alpha: float,
    n_bootstrap: int = 500,
) -> float:
    """Rejection rate of the per-gene paired bootstrap (twasnet.stats.per_gene_bootstrap) for one
    gene of heritability ``h2`` scored on ``n_test`` individuals by two exchangeable models."""
    rejected = 0
    for _ in range(n_replicates):
        g = rng.standard_normal(n_test) * np.sqrt(h2)
        y = g + rng.standard_normal(n_test) * np.sqrt(1 - h2)
        shared = g + rng.standard_normal(n_test) * np.sqrt(h2 / 2)
        a = shared + rng.standard_normal(n_test) * np.sqrt(h2 / 2)
        b = shared + rng.standard_normal(n_test) * np.sqrt(h2 / 2)
        res = per_gene_bootstrap(y, a, b, n_bootstrap=n_bootstrap, rng=rng)
        rejected += res["p"] < alpha
    return rejected / n_replicates


def binomial_limit(n_replicates: int, alpha: float, level: float = 0.99) -> float:
    """The rejection rate a test calibrated at ``alpha`` exceeds with probability ≤ 1 − level."""
    return float(stats.binom.ppf(level, n_replicates, alpha)) / n_replicates


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--n-genes", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--noise-ratio", type=float, default=0.7, help="A's noise under H1")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    limit = binomial_limit(args.replicates, args.alpha)
    print(
        f"{args.replicates} replicates per setting, alpha = {args.alpha}, held-out n = "
        f"{args.n_test}; null limit (99% binomial) = {limit:.4f}"
    )
    header = f"{'test':<9}{'genes':>6}  {'alternative':<10}{'null rate':>10}{'ok':>4}"
    print(header + f"{'power':>8}{'mean dR2':>10}")
    start = time.perf_counter()
    for n_genes in args.n_genes:
        rng = np.random.default_rng([args.seed, n_genes])
        null = simulate_paired_r2(
            rng, n_replicates=args.replicates, n_genes=n_genes, n_test=args.n_test
        )
        alt = simulate_paired_r2(
            rng,
            n_replicates=args.replicates,
            n_genes=n_genes,
            n_test=args.n_test,
            noise_ratio=args.noise_ratio,
        )
        shift = float(np.mean(alt[0] - alt[1]))
        for alternative in ("two-sided", "greater"):
            size = rejection_rates(*null, alpha=args.alpha, alternative=alternative)
            power = rejection_rates(*alt, alpha=args.alpha, alternative=alternative)
            for test in TEST_NAMES:
                ok = "yes" if size[test] <= limit else "NO"
                print(
                    f"{test:<9}{n_genes:>6}  {alternative:<10}{size[test]:>10.4f}{ok:>4}"
                    f"{power[test]:>8.3f}{shift:>10.4f}"
                )
    print("\nper-gene paired bootstrap over held-out individuals (optional compare.per_gene_test)")
    print(f"{'h2':>5}{'n_test':>8}{'null rate':>11}{'ok':>4}")
    for h2, n_test in ((0.1, 100), (0.3, 100), (0.3, 300)):
        rate = per_gene_null_rate(
            np.random.default_rng([args.seed, n_test, int(h2 * 100)]),
            n_replicates=args.replicates,
            h2=h2,
            n_test=n_test,
            alpha=args.alpha,
        )
        print(f"{h2:>5}{n_test:>8}{rate:>11.4f}{'yes' if rate <= limit else 'NO':>4}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
