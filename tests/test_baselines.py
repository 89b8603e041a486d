"""FUSION baselines (top1, lasso, blup): agreement with brute-force and library references."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import Ridge

from twasnet.errors import GeneSkipped
from twasnet.heritability import reml_h2
from twasnet.models.baselines import H2_MAX, H2_MIN, BlupModel, LassoModel, Top1Model
from twasnet.models.enet import ElasticNetCV
from twasnet.models.registry import TrainingInputs


def _simulate(seed: int, n: int, p: int, *, causal: dict[int, float], noise: float = 1.0):
    """Dosages x (n, p) in {0, 1, 2} and y (n,) = 3 + x @ beta + noise, beta set by ``causal``."""
    rng = np.random.default_rng(seed)
    maf = rng.uniform(0.1, 0.5, size=p)
    x = rng.binomial(2, maf, size=(n, p)).astype(np.float64)
    beta = np.zeros(p)
    for j, effect in causal.items():
        beta[j] = effect
    y = 3.0 + x @ beta + rng.normal(0.0, noise, size=n)
    return x, y


def _polygenic(seed: int, n: int, p: int, *, h2: float):
    """Dosages x (n, p) and y (n,) with every variant causal, genetic variance share ``h2``."""
    rng = np.random.default_rng(seed)
    x = rng.binomial(2, rng.uniform(0.1, 0.5, size=p), size=(n, p)).astype(np.float64)
    g = ((x - x.mean(0)) / x.std(0)) @ rng.normal(0.0, 1.0, size=p)
    g = g / g.std() * np.sqrt(h2) if h2 > 0 else np.zeros(n)
    return x, g + rng.normal(0.0, np.sqrt(1.0 - h2), size=n)


def _inputs(x: np.ndarray, y: np.ndarray, *, n_folds: int = 5) -> TrainingInputs:
    n, p = x.shape
    return TrainingInputs(
        x=x,
        y=y,
        folds=np.arange(n) % n_folds,
        variants=pd.DataFrame(index=range(p)),
        features=np.zeros((p, 1)),
        seed=0,
    )


def _check_protocol(model, x: np.ndarray) -> None:
    """state() reproduces predict(); importance is (p,) coef; hyperparameters are strict JSON."""
    state = model.state()
    assert state["kind"] == "linear"
    coef = np.asarray(state["coef"], dtype=np.float64)
    assert coef.shape == (x.shape[1],)
    assert isinstance(state["intercept"], float)
    np.testing.assert_allclose(state["intercept"] + x @ coef, model.predict(x), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(model.importance(), coef)
    assert model.n_nonzero() == np.count_nonzero(coef)
    hyper = model.hyperparameters()
    assert json.loads(json.dumps(hyper, allow_nan=False)) == hyper
    assert {k: state[k] for k in hyper} == hyper


# --- top1 -----------------------------------------------------------------------------------


def test_top1_matches_brute_force_linregress() -> None:
    x, y = _simulate(1, 150, 40, causal={17: 0.8, 3: 0.2})
    model = Top1Model().fit(_inputs(x, y))
    fits = [stats.linregress(x[:, j], y) for j in range(x.shape[1])]
    t_ref = np.array([f.rvalue * np.sqrt((150 - 2) / (1 - f.rvalue**2)) for f in fits])
    j = int(np.argmax(np.abs(t_ref)))
    assert j == 17  # the planted strong variant
    hyper = model.hyperparameters()
    assert hyper["variant_index"] == j
    assert hyper["t"] == pytest.approx(t_ref[j], rel=1e-10)
    assert hyper["p_value"] == pytest.approx(fits[j].pvalue, rel=1e-8)
    expected = np.zeros(x.shape[1])
    expected[j] = fits[j].slope
    np.testing.assert_allclose(model.importance(), expected, rtol=1e-10, atol=0)
    assert model.state()["intercept"] == pytest.approx(fits[j].intercept, rel=1e-10)
    x_new = np.random.default_rng(9).binomial(2, 0.3, size=(7, x.shape[1])).astype(float)
    np.testing.assert_allclose(
        model.predict(x_new), fits[j].intercept + fits[j].slope * x_new[:, j], rtol=1e-10
    )
    assert model.n_nonzero() == 1
    _check_protocol(model, x_new)


def test_top1_negative_effect_and_ties_go_to_lowest_index() -> None:
    x, y = _simulate(2, 120, 12, causal={8: -0.9})
    x[:, 5] = 2.0 - x[:, 8]  # perfectly (anti-)correlated copy at a lower index: same |t|
    model = Top1Model().fit(_inputs(x, y))
    assert model.hyperparameters()["variant_index"] == 5
    assert model.hyperparameters()["t"] > 0  # 2 - x8 has the opposite sign of the -0.9 effect
    x[:, 5] = x[:, 8]
    assert Top1Model().fit(_inputs(x, y)).hyperparameters()["variant_index"] == 5


def test_top1_never_picks_constant_columns() -> None:
    x, y = _simulate(3, 80, 10, causal={6: 0.7})
    x[:, [0, 2, 6]] = 1.0  # the planted variant made monomorphic; others constant too
    model = Top1Model().fit(_inputs(x, y))
    chosen = model.hyperparameters()["variant_index"]
    assert chosen not in (0, 2, 6)
    _check_protocol(model, x)
    x[:] = 2.0
    with pytest.raises(GeneSkipped) as err:
        Top1Model().fit(_inputs(x, y))
    assert err.value.reason == "no_variants"


# --- lasso ----------------------------------------------------------------------------------


def test_lasso_is_elastic_net_cv_with_alpha_one() -> None:
    x, y = _simulate(4, 120, 60, causal={1: 0.6, 10: -0.5, 33: 0.4})
    inputs = _inputs(x, y)
    model = LassoModel(n_lambda=30, unused_option=1).fit(inputs)
    ref = ElasticNetCV(alpha=1.0, n_lambda=30).fit(x, y, folds=inputs.folds)
    np.testing.assert_array_equal(model.importance(), ref.coef_)
    assert model.state()["intercept"] == ref.intercept_
    enet = ElasticNetCV(alpha=0.5, n_lambda=30).fit(x, y, folds=inputs.folds)
    assert not np.allclose(model.importance(), enet.coef_)
    hyper = model.hyperparameters()
    assert hyper == {
        "alpha": 1.0,
        "lambda": ref.lambda_,
        "lambda_index": ref.lambda_index_,
        "n_lambda_path": len(ref.lambdas_),
    }
    assert {1, 10} <= set(np.flatnonzero(model.importance()))
    _check_protocol(model, x)


def test_lasso_skips_when_every_variant_is_constant() -> None:
    x, y = _simulate(5, 50, 6, causal={})
    with pytest.raises(GeneSkipped) as err:
        LassoModel().fit(_inputs(np.ones_like(x), y))
    assert err.value.reason == "no_variants"


# --- blup -----------------------------------------------------------------------------------


def _standardised(x: np.ndarray):
    mean, sd = x.mean(axis=0), x.std(axis=0)
    keep = sd > 0
    return (x[:, keep] - mean[keep]) / sd[keep], keep, mean, sd


@pytest.mark.parametrize(("n", "p"), [(60, 150), (150, 40)])  # dual (p > n), primal (p <= n)
def test_blup_equals_sklearn_ridge_at_the_reml_lambda(n: int, p: int) -> None:
    x, y = _polygenic(6, n, p, h2=0.5)
    x[:, [3, 11]] = 1.0  # constant columns: coefficient 0, not counted in p_eff
    model = BlupModel().fit(_inputs(x, y))
    z, keep, mean, sd = _standardised(x)
    p_eff = int(keep.sum())
    reml = reml_h2(y, z)
    h2 = min(max(reml.h2, H2_MIN), H2_MAX)
    lam = p_eff * (1.0 - h2) / h2
    hyper = model.hyperparameters()
    assert hyper["n_effective_variants"] == p_eff == p - 2
    assert hyper["h2_reml"] == pytest.approx(reml.h2, abs=1e-12)
    assert hyper["lambda"] == pytest.approx(lam, rel=1e-12)

    ridge = Ridge(alpha=lam, fit_intercept=True, solver="svd").fit(z, y)
    expected = np.zeros(p)
    expected[keep] = ridge.coef_ / sd[keep]
    coef = model.importance()
    np.testing.assert_allclose(coef, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
    assert np.all(coef[[3, 11]] == 0) and model.n_nonzero() == p_eff
    x_new = np.random.default_rng(10).binomial(2, 0.3, size=(9, p)).astype(float)
    ref_pred = ridge.predict((x_new[:, keep] - mean[keep]) / sd[keep])
    np.testing.assert_allclose(model.predict(x_new), ref_pred, rtol=1e-8)
    _check_protocol(model, x_new)


def test_blup_lambda_follows_reml_h2() -> None:
    x_hi, y_hi = _polygenic(7, 200, 50, h2=0.8)
    x_null, y_null = _polygenic(8, 200, 50, h2=0.0)
    hi = BlupModel().fit(_inputs(x_hi, y_hi)).hyperparameters()
    null = BlupModel().fit(_inputs(x_null, y_null)).hyperparameters()
    assert hi["h2_reml"] > 0.5 > null["h2_reml"]
    assert hi["lambda"] < null["lambda"]
    for hyper in (hi, null):  # interior estimates: no clamping
        assert H2_MIN < hyper["h2"] == hyper["h2_reml"] < H2_MAX
        assert hyper["lambda"] == pytest.approx(50 * (1 - hyper["h2"]) / hyper["h2"], rel=1e-12)


def test_blup_clamps_h2_at_the_lower_boundary() -> None:
    x, y = _polygenic(21, 100, 20, h2=0.0)  # y independent of x; REML h2 = 0 for this seed
    model = BlupModel().fit(_inputs(x, y))
    hyper = model.hyperparameters()
    assert hyper["h2_reml"] == 0.0 and hyper["h2_se"] is None  # boundary: no SE (not NaN)
    assert hyper["h2"] == H2_MIN
    assert hyper["lambda"] == pytest.approx(20 * (1 - H2_MIN) / H2_MIN, rel=1e-12)
    assert np.all(np.isfinite(model.importance())) and model.n_nonzero() == 20
    _check_protocol(model, x)


def test_blup_clamps_h2_at_the_upper_boundary() -> None:
    rng = np.random.default_rng(11)
    x = rng.binomial(2, 0.3, size=(100, 30)).astype(float)
    y = x @ rng.normal(0.0, 1.0, size=30)  # no noise at all: REML h2 at (or near) 1
    hyper = BlupModel().fit(_inputs(x, y)).hyperparameters()
    assert hyper["h2_reml"] > H2_MAX
    assert hyper["h2"] == H2_MAX
    assert hyper["lambda"] == pytest.approx(30 * (1 - H2_MAX) / H2_MAX, rel=1e-12)


def test_blup_skips_when_every_variant_is_constant() -> None:
    x, y = _simulate(12, 40, 5, causal={})
    with pytest.raises(GeneSkipped) as err:
        BlupModel().fit(_inputs(np.zeros_like(x), y))
    assert err.value.reason == "no_variants"


def test_models_refuse_to_predict_before_fit() -> None:
    for model in (Top1Model(), BlupModel()):
        with pytest.raises(RuntimeError):
            model.predict(np.zeros((2, 3)))
