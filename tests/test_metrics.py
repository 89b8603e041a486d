import numpy as np
import pytest
from scipy import stats

from twasnet.metrics import prediction_metrics


def test_both_r2_definitions_against_direct_formulas():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(50)
    pred = 0.5 * y + rng.standard_normal(50)
    m = prediction_metrics(y, pred)
    r, p = stats.pearsonr(y, pred)
    assert m["pearson_r"] == pytest.approx(r)
    assert m["pearson_p"] == pytest.approx(p)
    assert m["r2_pearson"] == pytest.approx(r**2)
    assert m["r2_sse"] == pytest.approx(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def test_perfect_and_rescaled_predictions():
    y = np.arange(10.0)
    assert prediction_metrics(y, y)["r2_sse"] == pytest.approx(1.0)
    rescaled = prediction_metrics(y, 3 * y + 1)
    assert rescaled["r2_pearson"] == pytest.approx(1.0)
    assert rescaled["r2_sse"] < 0  # right ranking, wrong scale: only the SSE form punishes it


def test_constant_prediction_explains_nothing():
    y = np.arange(10.0)
    m = prediction_metrics(y, np.full(10, 4.5))
    assert m["r2_pearson"] == 0.0 and m["pearson_p"] == 1.0
    assert m["r2_sse"] == pytest.approx(0.0)
