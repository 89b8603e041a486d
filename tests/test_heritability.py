"""REML cis-heritability: agreement with a dense brute-force likelihood, accuracy, LRT."""

from __future__ import annotations

import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from twasnet.heritability import RemlResult, reml_h2, reml_loglik


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small matrices: multi-threaded BLAS only adds overhead (and noise on shared machines)."""
    with threadpool_limits(1):
        yield


def _genotypes(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    """Standardised 0/1/2 dosages (n, p) with random allele frequencies; no constant columns."""
    maf = rng.uniform(0.05, 0.5, size=p)
    g = rng.binomial(2, maf, size=(n, p)).astype(np.float64)
    g = g[:, g.std(axis=0) > 0]
    return (g - g.mean(axis=0)) / g.std(axis=0)


def _phenotype(rng: np.random.Generator, z: np.ndarray, h2: float) -> np.ndarray:
    """y (n,) with genetic variance h2 (infinitesimal effects) and noise variance 1 - h2."""
    p = z.shape[1]
    beta = rng.standard_normal(p) * np.sqrt(h2 / p)
    return z @ beta + rng.standard_normal(z.shape[0]) * np.sqrt(1.0 - h2)


def test_maximum_agrees_with_dense_brute_force_grid() -> None:
    rng = np.random.default_rng(11)
    n, p = 150, 200
    z = _genotypes(rng, n, p)
    cov = rng.standard_normal((n, 2))
    y = _phenotype(rng, z, 0.6) + cov @ np.array([0.5, -1.0]) + 3.0
    res = reml_h2(y, z, covariates=cov)

    # The reported optimum is a point of the dense likelihood.
    dense_at_opt = reml_loglik(y, z, covariates=cov, sigma_g2=res.sigma_g2, sigma_e2=res.sigma_e2)
    assert dense_at_opt == pytest.approx(res.loglik, abs=1e-8)
    dense_null = reml_loglik(
        y, z, covariates=cov, sigma_g2=0.0, sigma_e2=res.sigma_e2 + res.sigma_g2
    )
    assert dense_null <= res.loglik_null + 1e-8

    # Brute-force grid over (sigma_g2, sigma_e2) of the straightforward dense formula.
    sg = np.linspace(0.0, 1.6, 33)
    se = np.linspace(0.05, 1.2, 24)
    ll = np.array(
        [[reml_loglik(y, z, covariates=cov, sigma_g2=a, sigma_e2=b) for b in se] for a in sg]
    )
    i, j = np.unravel_index(np.argmax(ll), ll.shape)
    assert ll.max() <= res.loglik + 1e-8  # nothing on the grid beats the optimiser
    assert res.loglik - ll.max() < 0.5  # and the grid's best is within its resolution
    assert abs(res.sigma_g2 - sg[i]) <= 2 * (sg[1] - sg[0])
    assert abs(res.sigma_e2 - se[j]) <= 2 * (se[1] - se[0])
    assert res.converged and not res.boundary


def test_estimate_close_to_truth_and_se_matches_spread() -> None:
    rng = np.random.default_rng(5)
    n, p = 500, 400
    z = _genotypes(rng, n, p)
    estimates, ses = [], []
    for _ in range(40):
        res = reml_h2(_phenotype(rng, z, 0.5), z)
        estimates.append(res.h2)
        ses.append(res.h2_se)
    estimates = np.array(estimates)
    first = reml_h2(_phenotype(np.random.default_rng(0), z, 0.5), z)
    assert abs(first.h2 - 0.5) < 3 * first.h2_se
    assert first.p_value < 1e-6
    assert abs(estimates.mean() - 0.5) < 0.05
    # The observed-information SE describes the sampling spread of the estimate.
    assert np.nanmedian(ses) == pytest.approx(estimates.std(ddof=1), rel=0.35)


def test_lrt_is_calibrated_under_the_null() -> None:
    rng = np.random.default_rng(2024)
    n, p = 200, 150
    z = _genotypes(rng, n, p)
    cov = rng.standard_normal((n, 1))
    pvals = np.array(
        [
            reml_h2(rng.standard_normal(n) + 2.0 * cov[:, 0], z, covariates=cov).p_value
            for _ in range(200)
        ]
    )
    assert np.all((pvals > 0) & (pvals <= 1))
    assert np.mean(pvals < 0.05) <= 0.1
    # Boundary mixture: about half the null estimates sit at h2 = 0 with p = 1.
    assert np.mean(pvals == 1.0) >= 0.4


def test_boundary_at_zero_is_flagged_not_raised() -> None:
    rng = np.random.default_rng(3)
    z = _genotypes(rng, 120, 80)
    # Pick a pure-noise phenotype whose estimate lands on h2 = 0.
    for _ in range(50):
        res = reml_h2(rng.standard_normal(120), z)
        if res.h2 == 0.0:
            break
    assert isinstance(res, RemlResult)
    assert res.h2 == 0.0 and res.boundary and res.converged
    assert res.lrt_stat == 0.0 and res.p_value == 1.0
    assert np.isnan(res.h2_se)
    assert res.sigma_g2 == 0.0 and res.sigma_e2 > 0
    assert res.loglik == res.loglik_null


def test_boundary_at_one_is_flagged_not_raised() -> None:
    rng = np.random.default_rng(4)
    z = _genotypes(rng, 100, 30)  # p < n: K is singular
    y = z @ rng.standard_normal(z.shape[1]) + 1.0  # no noise at all
    res = reml_h2(y, z)
    assert res.boundary and res.h2 > 0.999
    assert np.isnan(res.h2_se)
    assert res.p_value < 1e-10


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda rng: (np.full(50, 2.0), _genotypes(rng, 50, 10)), "no variance"),
        (lambda rng: (rng.standard_normal(50), np.empty((50, 0))), "p = 0"),
        (lambda rng: (rng.standard_normal(50), np.ones((50, 5))), "no variation"),
        (lambda rng: (np.r_[np.nan, rng.standard_normal(49)], _genotypes(rng, 50, 10)), "NaN"),
        (lambda rng: (rng.standard_normal(50), _genotypes(rng, 40, 10)), "shape"),
    ],
)
def test_unanalysable_genes_raise_clear_value_error(make, match) -> None:
    y, z = make(np.random.default_rng(0))
    with pytest.raises(ValueError, match=match):
        reml_h2(y, z)


def test_collinear_covariates_raise() -> None:
    rng = np.random.default_rng(0)
    c = rng.standard_normal(60)
    with pytest.raises(ValueError, match="collinear"):
        reml_h2(rng.standard_normal(60), _genotypes(rng, 60, 10), covariates=np.c_[c, 2 * c])


def test_fast_enough_for_a_cis_window() -> None:
    rng = np.random.default_rng(9)
    z = _genotypes(rng, 500, 3000)
    y = _phenotype(rng, z, 0.3)
    start = time.perf_counter()
    res = reml_h2(y, z)
    assert time.perf_counter() - start < 3.0  # typically ~0.2 s; generous for loaded CI machines
    assert res.converged
