"""The nonlinear-term screen (twasnet.models.terms) and the elastic-net control on its terms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twasnet.models.enet import ElasticNetCV
from twasnet.models.enet_features import FeatureElasticNetModel, load_model
from twasnet.models.registry import TrainingInputs
from twasnet.models.terms import (
    Terms,
    candidate_variants,
    heterozygosity,
    screen_terms,
    term_matrix,
    variant_nonlinear_pvalues,
)


def _genotypes(rng, n, p):
    return rng.binomial(2, rng.uniform(0.1, 0.5, p), size=(n, p)).astype(np.float64)


def _z(x):
    return (x - x.mean(0)) / x.std(0)


def test_screen_finds_a_planted_pair_and_a_recessive_variant():
    rng = np.random.default_rng(0)
    x = _genotypes(rng, 400, 60)
    z = _z(x)
    y = 0.6 * z[:, 3] * z[:, 40] + 1.2 * (x[:, 10] == 2) + rng.normal(size=400)
    found = screen_terms(x, y, max_terms=4)
    pairs = {(a, b) for k, a, b in zip(found.kind, found.a, found.b, strict=True) if k == "pair"}
    doms = {a for k, a in zip(found.kind, found.a, strict=True) if k == "dominance"}
    assert (3, 40) in pairs
    assert 10 in doms
    assert len(found) <= 4


def test_screen_holds_its_family_wise_level_under_the_null():
    rng = np.random.default_rng(1)
    x = _genotypes(rng, 200, 40)
    hits = sum(len(screen_terms(x, rng.normal(size=200))) > 0 for _ in range(200))
    assert hits / 200 <= 0.09  # alpha 0.05 over both kinds; measured 0.04


def test_weights_spend_the_level_where_they_point():
    """A weak interaction Bonferroni over all pairs misses is found when the weights mark it."""
    rng = np.random.default_rng(2)
    x = _genotypes(rng, 300, 200)
    z = _z(x)
    y = 0.25 * z[:, 5] * z[:, 150] + rng.normal(size=300)
    plain = screen_terms(x, y, dominance=False)
    w = np.ones(200)
    w[[5, 150]] = 30.0
    marked = screen_terms(x, y, weights=w, dominance=False)
    assert (5, 150) not in set(zip(plain.a, plain.b, strict=True))
    assert (5, 150) in set(zip(marked.a, marked.b, strict=True))


def test_candidates_bring_in_marked_variants_without_marginal_effect():
    rng = np.random.default_rng(3)
    x = _genotypes(rng, 200, 100)
    y = _z(x)[:, :8] @ np.ones(8) + rng.normal(size=200)
    plain = candidate_variants(x, y, size=8)
    assert set(plain) == set(range(8))
    w = np.ones(100)
    w[[90, 95]] = 10.0
    marked = candidate_variants(x, y, size=8, weights=w)
    assert {90, 95} <= set(marked) and len(marked) == 8


def test_term_matrix_codes_heterozygosity_and_standardised_products():
    x = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 0.0]])
    terms = Terms(("dominance", "pair"), (0, 0), (-1, 1), (0.0, 0.0), (1.0, 1.0))
    mean, sd = x.mean(0), x.std(0)
    m = term_matrix(x, terms, x_mean=mean, x_sd=sd)
    np.testing.assert_array_equal(m[:, 0], heterozygosity(x)[:, 0])
    np.testing.assert_allclose(
        m[:, 1], ((x[:, 0] - mean[0]) / sd[0]) * ((x[:, 1] - mean[1]) / sd[1])
    )


def test_variant_nonlinear_pvalues_mark_the_interacting_variants():
    rng = np.random.default_rng(4)
    x = _genotypes(rng, 400, 50)
    z = _z(x)
    y = 0.6 * z[:, 7] * z[:, 30] + rng.normal(size=400)
    pv = variant_nonlinear_pvalues(x, y)
    assert set(np.argsort(pv)[:2]) == {7, 30}
    assert pv[7] < 1e-6 and np.median(pv) > 0.1


@pytest.mark.parametrize("pairs", [True, False])
def test_enet_features_is_the_elastic_net_on_the_expanded_design(pairs):
    rng = np.random.default_rng(5)
    n, p = 300, 40
    x = _genotypes(rng, n, p)
    z = _z(x)
    y = 0.4 * z[:, 1] + 0.6 * z[:, 2] * z[:, 20] + rng.normal(size=n)
    folds = np.arange(n) % 5
    inputs = TrainingInputs(
        x=x, y=y, folds=folds, variants=pd.DataFrame(), features=np.zeros((p, 1)), seed=0
    )
    model = FeatureElasticNetModel(terms={"pairs": pairs}).fit(inputs)
    found = model.pairs_
    assert ((2, 20) in set(zip(found.a, found.b, strict=True))) == pairs
    design = np.column_stack(
        [x, heterozygosity(x), term_matrix(x, found, x_mean=x.mean(0), x_sd=x.std(0))]
    )
    reference = ElasticNetCV().fit(design, y, folds=folds)
    np.testing.assert_allclose(model.predict(x), reference.predict(design), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(load_model(model.state()).predict(x), model.predict(x))
    assert model.importance().shape == (p,) and model.n_nonzero() > 0
