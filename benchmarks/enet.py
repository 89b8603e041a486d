"""Per-gene elastic-net cost: twasnet's ElasticNetCV (adelie) vs scikit-learn's ElasticNetCV.

Both fit a 10-fold CV over 100 lambdas with alpha (l1_ratio) = 0.5 on one thread, with the same
folds, on genotype-like dosages (0/1/2 from two haplotypes, each a thresholded latent Gaussian
AR(1) across variants, so neighbouring variants are in LD). scikit-learn gets the same
standardised problem glmnet solves (X and y standardised on the training set; same
lambda_max/lambda_min ratio). Held-out R^2 is on separately simulated individuals.

Run: ``python benchmarks/enet.py`` (about 1-2 minutes). CPU seconds are printed next to wall-clock
seconds because wall-clock is inflated on a loaded machine.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread, set before numpy is imported

import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.linear_model import ElasticNetCV as SkElasticNetCV  # noqa: E402
from sklearn.model_selection import PredefinedSplit  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from twasnet.models.enet import ElasticNetCV  # noqa: E402

N_TRAIN, N_TEST, N_FOLDS, N_CAUSAL, H2, RHO = 600, 400, 10, 10, 0.3, 0.95
SIZES = (1000, 3000)
REPLICATES = {1000: 2, 3000: 1}


def simulate_gene(rng: np.random.Generator, n: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Dosages (n, p) and expression (n,) with ``N_CAUSAL`` causal variants and heritability H2."""
    maf = rng.uniform(0.05, 0.5, size=p)
    thresh = stats.norm.ppf(maf)  # latent < thresh -> alternative allele
    dosage = np.zeros((n, p))
    for _ in range(2):  # two haplotypes
        z = np.empty((n, p))
        z[:, 0] = rng.standard_normal(n)
        innov = rng.standard_normal((n, p)) * np.sqrt(1 - RHO**2)
        for j in range(1, p):
            z[:, j] = RHO * z[:, j - 1] + innov[:, j]
        dosage += z < thresh
    causal = rng.choice(p, size=N_CAUSAL, replace=False)
    beta = rng.standard_normal(N_CAUSAL)
    g = dosage[:, causal] @ beta
    g = (g - g.mean()) / g.std() * np.sqrt(H2)
    y = g + rng.standard_normal(n) * np.sqrt(1 - H2)
    return dosage, y


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1.0 - np.mean((y - pred) ** 2) / np.var(y))


def run_one(rng: np.random.Generator, p: int) -> dict[str, float]:
    x_all, y_all = simulate_gene(rng, N_TRAIN + N_TEST, p)
    x, y = x_all[:N_TRAIN], y_all[:N_TRAIN]
    x_test, y_test = x_all[N_TRAIN:], y_all[N_TRAIN:]
    folds = rng.permutation(np.arange(N_TRAIN) % N_FOLDS)
    ratio = 0.01 if N_TRAIN < p else 1e-4

    start, cpu = time.perf_counter(), time.process_time()
    ours = ElasticNetCV(alpha=0.5, n_lambda=100, n_threads=1).fit(x, y, folds=folds)
    t_ours, c_ours = time.perf_counter() - start, time.process_time() - cpu
    r2_ours = r2(y_test, ours.predict(x_test))

    start, cpu = time.perf_counter(), time.process_time()
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    y_mean, y_sd = y.mean(), y.std()
    sk = SkElasticNetCV(
        l1_ratio=0.5, alphas=100, eps=ratio, cv=PredefinedSplit(folds), n_jobs=1
    ).fit((x - mu) / sd, (y - y_mean) / y_sd)
    t_sk, c_sk = time.perf_counter() - start, time.process_time() - cpu
    r2_sk = r2(y_test, y_mean + y_sd * sk.predict((x_test - mu) / sd))
    return {
        "t_ours": t_ours,
        "t_sk": t_sk,
        "c_ours": c_ours,
        "c_sk": c_sk,
        "r2_ours": r2_ours,
        "r2_sk": r2_sk,
        "nnz_ours": ours.n_nonzero_,
        "nnz_sk": int(np.count_nonzero(sk.coef_)),
        "path_len": len(ours.lambdas_),
    }


def main() -> None:
    rng = np.random.default_rng(20240601)
    header = (
        f"{'n':>4} {'p':>5} {'genes':>5} | {'twasnet s':>9} {'sklearn s':>9} {'ratio':>6} | "
        f"{'tw cpu s':>8} {'sk cpu s':>8} {'ratio':>6} | "
        f"{'R2 twasnet':>10} {'R2 sklearn':>10} | {'nnz tw':>6} {'nnz sk':>6} {'path':>4}"
    )
    print(header)
    print("-" * len(header))
    with threadpool_limits(1):
        for p in SIZES:
            rows = [run_one(rng, p) for _ in range(REPLICATES[p])]

            def med(key: str, rows=rows) -> float:
                return float(np.median([r[key] for r in rows]))

            print(
                f"{N_TRAIN:>4} {p:>5} {len(rows):>5} | {med('t_ours'):>9.3f} {med('t_sk'):>9.3f} "
                f"{med('t_sk') / med('t_ours'):>6.1f} | {med('c_ours'):>8.3f} {med('c_sk'):>8.3f} "
                f"{med('c_sk') / med('c_ours'):>6.1f} | {med('r2_ours'):>10.3f} "
                f"{med('r2_sk'):>10.3f} | {med('nnz_ours'):>6.0f} {med('nnz_sk'):>6.0f} "
                f"{med('path_len'):>4.0f}"
            )
    print(
        "median per gene of wall-clock and CPU seconds (fit incl. 10-fold CV, 100 lambdas, "
        "alpha=0.5, 1 thread); ratio = sklearn / twasnet; R2 on 400 held-out individuals; "
        "path = lambdas kept after glmnet's early stop"
    )


if __name__ == "__main__":
    main()
