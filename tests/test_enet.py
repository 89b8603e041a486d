"""Elastic net (adelie solver, cv.glmnet rules): agreement with scikit-learn and glmnet."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet
from sklearn.linear_model import ElasticNetCV as SkElasticNetCV
from sklearn.model_selection import PredefinedSplit
from threadpoolctl import threadpool_limits

from twasnet.models.enet import (
    GLMNET_DEVMAX,
    GLMNET_FDEV,
    GLMNET_MNLAM,
    ElasticNetCV,
    elastic_net_path,
)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small matrices: multi-threaded BLAS only adds overhead (and noise on shared machines)."""
    with threadpool_limits(1):
        yield


def _simulate(seed: int, n: int, p: int, n_causal: int = 10, noise: float = 1.0):
    """Dosages X (n, p) in {0, 1, 2}, y (n,) with ``n_causal`` causal variants."""
    rng = np.random.default_rng(seed)
    maf = rng.uniform(0.05, 0.5, size=p)
    x = rng.binomial(2, maf, size=(n, p)).astype(np.float64)
    beta = np.zeros(p)
    causal = rng.choice(p, size=n_causal, replace=False)
    beta[causal] = rng.normal(0.0, 0.5, size=n_causal)
    y = x @ beta + rng.normal(0.0, noise, size=n) + 5.0
    return x, y, rng


def _folds(rng: np.random.Generator, n: int, k: int = 10) -> np.ndarray:
    return rng.permutation(np.arange(n) % k)


def _standardise(x: np.ndarray, y: np.ndarray):
    mu, sd = x.mean(axis=0), x.std(axis=0)
    return (x - mu) / sd, mu, sd, y.mean(), y.std()


def test_fixed_lambda_matches_sklearn_on_standardised_data() -> None:
    x, y, _ = _simulate(1, 120, 200)
    xs, _, sd, y_mean, y_sd = _standardise(x, y)
    lambdas = np.array([0.3, 0.1, 0.03])
    path = elastic_net_path(x, y, lambdas=lambdas, alpha=0.5, tol=1e-16)
    for lam, coef, icpt in zip(path.lambdas, path.coef, path.intercept, strict=True):
        # glmnet semantics: the path is solved for y / sd(y) at lambda / sd(y).
        sk = ElasticNet(alpha=lam / y_sd, l1_ratio=0.5, tol=1e-14, max_iter=100_000)
        sk.fit(xs, (y - y_mean) / y_sd)
        np.testing.assert_allclose(coef, sk.coef_ * y_sd / sd, atol=1e-5)
        assert np.count_nonzero(coef) == np.count_nonzero(sk.coef_)
        # Predictions on the raw scale agree too (intercept handled on the original scale).
        np.testing.assert_allclose(x @ coef + icpt, y_mean + y_sd * sk.predict(xs), atol=1e-5)


def test_lambda_path_on_glmnet_scale() -> None:
    x, y, rng = _simulate(2, 150, 100)
    model = ElasticNetCV(alpha=0.5).fit(x, y, folds=_folds(rng, 150))
    xs, *_ = _standardise(x, y)
    lambda_max = np.max(np.abs(xs.T @ (y - y.mean()))) / (150 * 0.5)
    assert model.lambdas_[0] == pytest.approx(lambda_max, rel=1e-10)
    assert model.path_n_nonzero_[0] == 0 and model.path_n_nonzero_[1] > 0
    # n >= p: lambda_min_ratio = 1e-4, log-spaced
    ratios = model.lambdas_[1:] / model.lambdas_[:-1]
    np.testing.assert_allclose(ratios, 1e-4 ** (1 / 99), rtol=1e-10)


def test_cv_picks_minimum_and_matches_sklearn_held_out_r2() -> None:
    n, p = 300, 500
    x_all, y_all, rng = _simulate(5, n + 300, p, noise=1.0)
    x, y, x_test, y_test = x_all[:n], y_all[:n], x_all[n:], y_all[n:]
    folds = _folds(rng, n)
    model = ElasticNetCV(alpha=0.5).fit(x, y, folds=folds)

    assert model.cv_mse_[model.lambda_index_] == model.cv_mse_.min()
    assert model.lambda_ == model.lambdas_[model.lambda_index_]
    assert np.all(model.cv_mse_[: model.lambda_index_] > model.cv_mse_.min())
    assert 0 < model.n_nonzero_ == np.count_nonzero(model.coef_)
    assert model.lambda_1se_ >= model.lambda_

    # scikit-learn on the same standardised problem, same folds, same lambda-range ratio
    xs, mu, sd, y_mean, y_sd = _standardise(x, y)
    sk = SkElasticNetCV(l1_ratio=0.5, alphas=100, eps=0.01, cv=PredefinedSplit(folds), n_jobs=1)
    sk.fit(xs, (y - y_mean) / y_sd)

    def r2(pred: np.ndarray) -> float:
        return 1.0 - np.mean((y_test - pred) ** 2) / np.var(y_test)

    r2_ours = r2(model.predict(x_test))
    r2_sk = r2(y_mean + y_sd * sk.predict((x_test - mu) / sd))
    assert r2_ours > 0.3
    assert abs(r2_ours - r2_sk) < 0.02


def test_cv_error_is_fold_size_weighted_mean_of_refits() -> None:
    x, y, rng = _simulate(4, 90, 60)
    folds = np.repeat([0, 1, 2], [20, 30, 40])[rng.permutation(90)]  # unequal folds
    model = ElasticNetCV(alpha=0.5, n_lambda=20).fit(x, y, folds=folds)
    mse = []
    for k in range(3):
        test = folds == k
        path = elastic_net_path(x[~test], y[~test], lambdas=model.lambdas_, alpha=0.5)
        pred = x[test] @ path.coef.T + path.intercept
        mse.append(np.mean((y[test, None] - pred) ** 2, axis=0))
    mse = np.array(mse)
    w = np.array([20, 30, 40])
    np.testing.assert_allclose(model.cv_mse_, w @ mse / 90, rtol=1e-12)
    cvsd = np.sqrt(w @ (mse - model.cv_mse_) ** 2 / 90 / 2)
    np.testing.assert_allclose(model.cv_se_, cvsd, rtol=1e-10)


def test_path_truncated_like_glmnet() -> None:
    x, _, rng = _simulate(5, 200, 50)
    y = x[:, :5] @ np.ones(5) + 0.01 * rng.standard_normal(200)  # nearly noise-free
    model = ElasticNetCV(alpha=0.5).fit(x, y, folds=_folds(rng, 200))
    dev = model.dev_ratio_
    assert len(model.lambdas_) < 100
    assert len(dev) == len(model.lambdas_) == len(model.cv_mse_) == model.coef_path_.shape[0]

    def stops(m: int) -> bool:  # glmnet's rule after the m-th lambda (0-based index m)
        return dev[m] - dev[m - 1] < GLMNET_FDEV * dev[m] or dev[m] > GLMNET_DEVMAX

    last = len(dev) - 1
    assert stops(last)
    assert not any(stops(m) for m in range(GLMNET_MNLAM - 1, last))


def test_unpenalised_variant_stays_in_model() -> None:
    x, y, rng = _simulate(6, 150, 80, noise=3.0)
    folds = _folds(rng, 150)
    j = int(np.argmin(np.abs(np.corrcoef(x.T, y)[-1, :-1])))  # the least associated variant
    pf = np.ones(80)
    pf[j] = 0.0
    model = ElasticNetCV(alpha=0.5).fit(x, y, folds=folds, penalty_factor=pf)
    assert np.all(model.coef_path_[:, j] != 0.0)
    assert model.coef_[j] != 0.0
    # glmnet rescales penalty factors to sum to p: a global multiple changes nothing.
    scaled = ElasticNetCV(alpha=0.5).fit(x, y, folds=folds, penalty_factor=7.0 * pf)
    np.testing.assert_allclose(scaled.coef_path_, model.coef_path_, atol=1e-10)
    plain = ElasticNetCV(alpha=0.5).fit(x, y, folds=folds)
    assert plain.coef_path_[0, j] == 0.0


def test_deterministic() -> None:
    x, y, rng = _simulate(7, 200, 300)
    folds = _folds(rng, 200)
    a = ElasticNetCV().fit(x, y, folds=folds)
    b = ElasticNetCV().fit(x.copy(), y.copy(), folds=folds.copy())
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.cv_mse_, b.cv_mse_)
    assert a.intercept_ == b.intercept_ and a.lambda_index_ == b.lambda_index_


def test_numpy2_with_adelie() -> None:
    """numpy 2 is deliberate although adelie's metadata says numpy<2; adelie must still work."""
    import adelie

    assert int(np.__version__.split(".")[0]) >= 2
    x, y, _ = _simulate(8, 60, 20)
    xs, *_ = _standardise(x, y)
    state = adelie.grpnet(
        X=adelie.matrix.dense(np.asfortranarray(xs)),
        glm=adelie.glm.gaussian(y - y.mean()),
        alpha=0.5,
        lmda_path_size=10,
        progress_bar=False,
    )
    assert state.betas.shape[1] == 20 and np.all(np.isfinite(state.betas.toarray()))
    assert np.isfinite(ElasticNetCV(n_lambda=10).fit(x, y, folds=np.arange(60) % 3).coef_).all()


def test_constant_columns_get_zero_and_do_not_change_the_fit() -> None:
    x, y, rng = _simulate(9, 120, 40)
    folds = _folds(rng, 120, 5)
    x_const = np.column_stack([x[:, :10], np.zeros(120), x[:, 10:], np.full(120, 2.0)])
    pf = np.ones(42)
    model = ElasticNetCV().fit(x_const, y, folds=folds, penalty_factor=pf)
    assert model.coef_[10] == 0.0 and model.coef_[41] == 0.0
    # glmnet rescales penalty factors over all p columns (constant ones included).
    ref = ElasticNetCV().fit(x, y, folds=folds, penalty_factor=np.full(40, 1.0))
    np.testing.assert_allclose(np.delete(model.coef_path_, [10, 41], axis=1), ref.coef_path_)
    np.testing.assert_allclose(model.predict(x_const), ref.predict(x))
    # A variant constant within one fold's training part only must not break CV.
    x_rare = x.copy()
    x_rare[:, 0] = 0.0
    x_rare[np.flatnonzero(folds == 0)[:2], 0] = 1.0
    assert np.isfinite(ElasticNetCV().fit(x_rare, y, folds=folds).cv_mse_).all()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda x, y, f: (x, np.full_like(y, 3.0), f), "y is constant"),
        (lambda x, y, f: (np.ones_like(x), y, f), "no non-constant"),
        (lambda x, y, f: (x, y, np.zeros_like(f)), "at least 2"),
        (lambda x, y, f: (x, np.r_[np.nan, y[1:]], f), "NaN"),
    ],
)
def test_unusable_inputs_raise_value_error(mutate, match) -> None:
    x, y, rng = _simulate(10, 50, 20)
    x, y, folds = mutate(x, y, _folds(rng, 50, 5))
    with pytest.raises(ValueError, match=match):
        ElasticNetCV().fit(x, y, folds=folds)


def test_predict_shape_and_checks() -> None:
    x, y, rng = _simulate(11, 80, 30)
    model = ElasticNetCV().fit(x, y, folds=_folds(rng, 80, 5))
    assert model.predict(x[:7]).shape == (7,)
    with pytest.raises(ValueError, match="columns"):
        model.predict(x[:, :5])
    with pytest.raises(RuntimeError, match="before fit"):
        ElasticNetCV().predict(x)
