"""Paired tests, bootstrap and multiplicity: agreement with scipy, and calibration under a null."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from twasnet.metrics import prediction_metrics, squared_correlation
from twasnet.stats import (
    benjamini_hochberg,
    bootstrap_ci,
    holm,
    paired_tests,
    per_gene_bootstrap,
    wilcoxon_method,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from calibration import binomial_limit, rejection_rates, simulate_paired_r2  # noqa: E402

A = np.array([0.31, 0.12, 0.45, 0.08, 0.27, 0.19, 0.52, 0.05, 0.33, 0.21, 0.14, 0.40])
B = np.array([0.25, 0.15, 0.38, 0.08, 0.20, 0.22, 0.41, 0.02, 0.30, 0.11, 0.16, 0.36])


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_paired_tests_equal_scipy_on_fixed_inputs(alternative):
    got = paired_tests(A, B, alternative=alternative)
    w = stats.wilcoxon(A - B, zero_method="pratt", alternative=alternative)
    t = stats.ttest_rel(A, B, alternative=alternative)
    d = A - B
    s = stats.binomtest(int((d > 0).sum()), int((d != 0).sum()), 0.5, alternative=alternative)
    assert got["wilcoxon_stat"] == pytest.approx(w.statistic)
    assert got["wilcoxon_p"] == pytest.approx(w.pvalue, rel=1e-12)
    assert got["t_stat"] == pytest.approx(t.statistic, rel=1e-12)
    assert got["t_p"] == pytest.approx(t.pvalue, rel=1e-12)
    assert got["sign_p"] == pytest.approx(s.pvalue, rel=1e-12)
    assert (got["sign_n_better"], got["sign_n_worse"]) == (8, 3)  # one zero difference dropped


def test_wilcoxon_is_exact_for_small_counts_and_handles_zeros():
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    got = paired_tests(d, np.zeros(5))
    assert got["wilcoxon_method"] == "exact"
    assert got["wilcoxon_p"] == pytest.approx(2 / 32)  # all 5 positive: 2 of 2^5 sign patterns
    assert got["sign_p"] == pytest.approx(2 / 32)
    # zeros and ties: scipy enumerates all sign patterns (<= 13 differences)
    with_zero = np.array([0.0, 0.1, 0.1, 0.3, -0.2, 0.4])
    assert wilcoxon_method(with_zero) == "permutation"
    got = paired_tests(with_zero, np.zeros(6))
    assert 0 < got["wilcoxon_p"] <= 1
    assert wilcoxon_method(np.arange(1, 80) / 100) == "normal"
    empty = paired_tests(np.ones(4), np.ones(4))  # no differences: no test is defined
    assert np.isnan(empty["wilcoxon_p"]) and np.isnan(empty["t_p"]) and np.isnan(empty["sign_p"])


def test_paired_tests_reject_bad_input():
    with pytest.raises(ValueError, match="finite"):
        paired_tests(np.array([0.1, np.nan]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="alternative"):
        paired_tests(A, B, alternative="bigger")


def test_holm_and_bh_adjust_across_pairs():
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    np.testing.assert_allclose(holm(p)[:4], [0.04, 0.09, 0.09, 0.5])
    assert np.isnan(holm(p)[4]) and np.isnan(benjamini_hochberg(p)[4])
    np.testing.assert_allclose(benjamini_hochberg(p)[:4], stats.false_discovery_control(p[:4]))
    np.testing.assert_allclose(benjamini_hochberg(p)[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_bootstrap_ci_is_seeded_and_equals_scipy():
    d = A - B
    first = bootstrap_ci(d, statistic="mean", n_bootstrap=999, rng=np.random.default_rng(5))
    again = bootstrap_ci(d, statistic="mean", n_bootstrap=999, rng=np.random.default_rng(5))
    direct = stats.bootstrap(
        (d,), np.mean, n_resamples=999, method="percentile", rng=np.random.default_rng(5)
    ).confidence_interval
    assert first == again
    assert first == pytest.approx((direct.low, direct.high))
    assert first[0] < d.mean() < first[1]
    low, high = bootstrap_ci(d, statistic="median", n_bootstrap=999, rng=np.random.default_rng(5))
    assert low <= np.median(d) <= high


def test_squared_correlation_is_the_r2_of_prediction_metrics():
    rng = np.random.default_rng(3)
    y, pred = rng.standard_normal((2, 40))
    assert squared_correlation(y, pred) == pytest.approx(prediction_metrics(y, pred)["r2_pearson"])
    assert squared_correlation(y, np.ones(40)) == 0.0


def test_per_gene_bootstrap_detects_a_better_prediction_only_when_there_is_one():
    rng = np.random.default_rng(8)
    g = rng.standard_normal(300)
    y = g + rng.standard_normal(300)
    good, noisy = g + 0.3 * rng.standard_normal(300), g + 3 * rng.standard_normal(300)
    res = per_gene_bootstrap(y, good, noisy, n_bootstrap=500, rng=np.random.default_rng(1))
    assert res["delta"] > 0 and res["ci_low"] > 0 and res["p"] < 0.01
    same = per_gene_bootstrap(y, good, good, n_bootstrap=500, rng=np.random.default_rng(1))
    assert same["delta"] == 0 and same["p"] == 1.0


def test_tests_hold_their_level_under_an_exchangeable_null_and_have_power():
    """A small version of benchmarks/calibration.py (which runs >= 1,000 replicates)."""
    replicates, alpha = 300, 0.05
    rng = np.random.default_rng(12)
    null = simulate_paired_r2(rng, n_replicates=replicates, n_genes=25, n_test=80)
    alt = simulate_paired_r2(rng, n_replicates=replicates, n_genes=25, n_test=80, noise_ratio=0.5)
    limit = binomial_limit(replicates, alpha)
    size = rejection_rates(*null, alpha=alpha, alternative="two-sided")
    power = rejection_rates(*alt, alpha=alpha, alternative="two-sided")
    for test in ("wilcoxon", "t", "sign"):
        assert size[test] <= limit, (test, size)
        assert power[test] >= 0.5, (test, power)
    # a test that ignores the pairing's sign would fail here: the null rate is not ~1
    assert max(size.values()) < 0.2
