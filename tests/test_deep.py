"""The deep models nest the cross-validated elastic net (twasnet.models.deep)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from twasnet.models.deep import AnnotatedCNNModel, CNNModel, load_model
from twasnet.models.deep.additions import one_se_better, smallest_within_se
from twasnet.models.deep.config import ARCHITECTURE_DEFAULTS, TRAINING_DEFAULTS, check_section
from twasnet.models.deep.loop import CVPlan, RefitPlan, cv_epoch_errors, train_epochs
from twasnet.models.deep.networks import build_network
from twasnet.models.deep.prior import fit_prior, gene_group, save_prior, screen_relevance
from twasnet.models.enet import ElasticNetCV
from twasnet.models.registry import TrainingInputs

N, P = 300, 60
FAST = {"training": {"max_epochs": 15}, "architecture": {"candidates": 16}, "device": "cpu"}


def _genotypes(rng, n=N, p=P):
    return rng.binomial(2, rng.uniform(0.1, 0.5, p), size=(n, p)).astype(np.float64)


def _z(x):
    return (x - x.mean(0)) / x.std(0)


def _inputs(x, y, *, features=None, gene_id="g", seed=0):
    n, p = x.shape
    feats = np.zeros((p, 2), np.float32) if features is None else features
    return TrainingInputs(
        x=x,
        y=y,
        folds=np.arange(n) % 5,
        variants=pd.DataFrame(),
        features=feats,
        seed=seed,
        gene_id=gene_id,
    )


def _additive(rng):
    x = _genotypes(rng)
    return x, _z(x)[:, [2, 9, 30]] @ np.array([0.4, -0.3, 0.3]) + rng.normal(size=N)


def test_on_additive_data_the_deep_model_is_the_elastic_net():
    x, y = _additive(np.random.default_rng(0))
    model = CNNModel(**FAST).fit(_inputs(x, y))
    enet = ElasticNetCV().fit(x, y, folds=np.arange(N) % 5)
    hp = model.hyperparameters()
    assert not hp["terms_used"] and not hp["encoder_used"] and not hp["nonlinear_used"]
    np.testing.assert_array_equal(model.predict(x), enet.predict(x))
    assert hp["lambda"] == enet.lambda_


def test_a_planted_interaction_is_kept_and_beats_the_elastic_net():
    rng = np.random.default_rng(1)
    x = _genotypes(rng, n=400)
    z = _z(x)
    y = 0.3 * z[:, 4] + 0.3 * z[:, 33] + 0.6 * z[:, 4] * z[:, 33] + rng.normal(size=400)
    train, test = np.arange(320), np.arange(320, 400)
    model = CNNModel(**FAST).fit(_inputs(x[train], y[train]))
    enet = ElasticNetCV().fit(x[train], y[train], folds=np.arange(320) % 5)
    hp = model.hyperparameters()
    assert hp["terms_used"] and ["pair", 4, 33] in hp["terms"]
    assert hp["terms_gain"] > hp["terms_gain_se"]

    def r2(pred):
        return np.corrcoef(pred, y[test])[0, 1] ** 2

    assert r2(model.predict(x[test])) > r2(enet.predict(x[test])) + 0.1
    imp = model.importance()
    assert set(np.argsort(imp)[-2:]) == {4, 33}


def test_a_recessive_variant_gets_a_dominance_term():
    rng = np.random.default_rng(2)
    x = _genotypes(rng, n=400)
    x[:, 12] = rng.binomial(2, 0.45, 400)
    y = 1.0 * (x[:, 12] == 2) + rng.normal(size=400)
    hp = CNNModel(**FAST).fit(_inputs(x, y)).hyperparameters()
    assert hp["terms_used"] and ["dominance", 12, -1] in hp["terms"]


def test_one_se_rule_needs_a_clear_gain():
    base = np.ones(100)
    assert not one_se_better(base, base, n_se=1.0)[0]
    noisy = base - np.random.default_rng(3).normal(0, 1, 100) * 0.1  # mean gain ~ 0
    assert not one_se_better(base, noisy + 0.02, n_se=1.0)[0]
    better, gain, se = one_se_better(base, base - 0.2 + np.linspace(-0.01, 0.01, 100), n_se=1.0)
    assert better and gain == pytest.approx(0.2) and se > 0


def test_same_seed_same_model_and_state_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    x = _genotypes(rng, n=400)
    z = _z(x)
    y = 0.3 * z[:, 1] + 0.4 * np.tanh(2 * z[:, 5] + z[:, 6]) + rng.normal(size=400)
    cfg = dict(FAST, n_se=0.0)  # keep whatever helps at all: the encoder's path is exercised
    a = CNNModel(**cfg).fit(_inputs(x, y, seed=7))
    b = CNNModel(**cfg).fit(_inputs(x, y, seed=7))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert a.hyperparameters() == b.hyperparameters()
    path = tmp_path / "state.pt"
    torch.save(a.state(), path)
    again = load_model(torch.load(path, weights_only=False))
    np.testing.assert_array_equal(again.predict(x), a.predict(x))


def _plan(rng_folds, *, seed=1):
    n = sum(len(rows) for rows, *_ in rng_folds)
    return CVPlan(rng_folds, np.full(n, 2.0), seed)


def test_the_encoder_epoch_count_comes_from_every_fold():
    arch = check_section("architecture", {"candidates": 8}, ARCHITECTURE_DEFAULTS)
    training = check_section("training", {"max_epochs": 4, "patience": 10}, TRAINING_DEFAULTS)
    folds = []
    for k in range(3):
        rows = np.arange(10 * k, 10 * k + 10)
        folds.append(
            (rows, torch.randn(30, 8), torch.randn(30), torch.randn(10, 8), torch.randn(10))
        )
    [err] = cv_epoch_errors(
        [_plan(folds)], n_variants=8, arch=arch, training=training, device="cpu"
    )
    assert err.shape == (5, 30)
    for rows, _, _, _, t_val in folds:  # epoch 0: the untrained nets predict exactly 0
        np.testing.assert_allclose(err[0, rows], 2.0 * t_val.numpy() ** 2, rtol=1e-6)
    assert np.all(err[1:] != err[:1])


def test_encoder_cv_stops_when_the_pooled_error_stops_improving():
    """Pure-noise targets: the pooled out-of-fold error rises from epoch 1, so training stops
    after `patience` epochs, and the one-SE rule keeps no encoder."""
    arch = check_section("architecture", {"candidates": 8}, ARCHITECTURE_DEFAULTS)
    training = check_section(
        "training", {"max_epochs": 50, "patience": 3, "lr": 0.05}, TRAINING_DEFAULTS
    )
    torch.manual_seed(0)
    folds = [
        (
            np.arange(20 * k, 20 * k + 20),
            torch.randn(60, 8),
            torch.randn(60),
            torch.randn(20, 8),
            torch.randn(20),
        )
        for k in range(4)
    ]
    [err] = cv_epoch_errors(
        [_plan(folds)], n_variants=8, arch=arch, training=training, device="cpu"
    )
    assert err.shape[0] < 51
    assert smallest_within_se(err, n_se=1.0) == 0


@pytest.mark.parametrize("extra", [{}, {"dilation": 2, "pool": 2, "activation": "gelu"}])
def test_the_network_starts_at_zero_and_is_the_library_convolution(extra):
    """A fresh member predicts exactly 0; trained, each member of a stack computes what torch's
    own conv1d / max_pool1d / linear layers compute with its parameters (float32 rounding)."""
    arch = check_section("architecture", extra, ARCHITECTURE_DEFAULTS)
    net = build_network(20, arch, seeds=[0, 1], device="cpu")
    x = torch.randn(2, 7, 20)
    assert torch.equal(net(x), torch.zeros(2, 7))
    training = check_section("training", {"max_epochs": 3}, TRAINING_DEFAULTS)
    [trained] = train_epochs(
        [RefitPlan(x[1], torch.randn(7), 3, 1)],
        n_variants=20,
        arch=arch,
        training=training,
        device="cpu",
    )
    out = trained(x[1:])[0]
    assert not torch.equal(out, torch.zeros(7))
    k, d = arch["kernel_size"], arch["dilation"]
    h = (x[1] * trained.s[0]).unsqueeze(1)
    for w, b, pool in zip(trained.weights[:-2], trained.biases[:-2], trained.pools, strict=True):
        weight = w[0].T.reshape(w.shape[2], -1, k)
        h = nn.functional.pad(h, trained.padding)
        h = trained.act(nn.functional.conv1d(h, weight, b[0, 0], stride=arch["stride"], dilation=d))
        if pool > 1:
            h = nn.functional.max_pool1d(h, pool, ceil_mode=True)
    h = trained.act(
        nn.functional.linear(h.flatten(1), trained.weights[-2][0].T, trained.biases[-2][0, 0])
    )
    ref = nn.functional.linear(h, trained.weights[-1][0].T, trained.biases[-1][0, 0]).squeeze(1)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def _annotated_genes(rng, n_genes, *, informative, effect=0.5):
    """Genes whose interacting variants carry the first annotation when ``informative``."""
    genes = []
    for g in range(n_genes):
        x = _genotypes(rng, n=240, p=40)
        z = _z(x)
        a, b = rng.choice(40, 2, replace=False)
        feats = (rng.random((40, 2)) < 0.1).astype(np.float32)
        if informative:
            feats[:, 0] = 0
            feats[[a, b], 0] = 1
        y = effect * z[:, a] * z[:, b] + rng.normal(size=240)
        genes.append((f"gene{g}", _inputs(x, y, features=feats, gene_id=f"gene{g}")))
    return genes


def test_the_nonlinear_prior_is_cross_fitted_and_learns_the_marking_annotation():
    rng = np.random.default_rng(6)
    genes = _annotated_genes(rng, 16, informative=True)
    state = fit_prior(genes, seed=0)
    assert len(state["nonlinear"]) == 2 and state["n_nonlinear_hits"] > 0
    marked = np.array([[1, 0], [0, 0]], np.float32)
    for gene_id, _ in genes[:4]:
        r = screen_relevance(state, marked, gene_id=gene_id)
        assert r[0] > 3 * r[1]
        other = state["nonlinear"][1 - gene_group(gene_id, 2)]
        assert state["nonlinear"][gene_group(gene_id, 2)] is not other


def test_with_flat_priors_cnn_annot_is_cnn_bit_for_bit(tmp_path):
    rng = np.random.default_rng(7)
    genes = _annotated_genes(rng, 6, informative=False)
    state = fit_prior(genes, seed=0)
    assert all(p["flat_reason"] for p in [state["additive"], *state["nonlinear"]])
    path = tmp_path / "prior.json"
    save_prior(state, path)
    _, inputs = genes[0]
    annot = AnnotatedCNNModel(prior_path=str(path), **FAST).fit(inputs)
    plain = CNNModel(**FAST).fit(inputs)
    np.testing.assert_array_equal(annot.predict(inputs.x), plain.predict(inputs.x))
    assert annot.hyperparameters()["screen_strength"] == 0.0


def test_annotations_marking_interacting_variants_help_cnn_annot_find_them(tmp_path):
    """Weak interactions: the annotation-weighted screen keeps them on twice as many genes."""
    rng = np.random.default_rng(8)
    genes = _annotated_genes(rng, 16, informative=True, effect=0.3)
    path = tmp_path / "prior.json"
    save_prior(fit_prior(genes, seed=0), path)
    annot = [
        AnnotatedCNNModel(prior_path=str(path), **FAST).fit(g).hyperparameters()
        for _, g in genes[:8]
    ]
    plain = [CNNModel(**FAST).fit(g).hyperparameters() for _, g in genes[:8]]
    assert sum(h["terms_used"] for h in annot) >= sum(h["terms_used"] for h in plain) + 2
    assert any(h["screen_strength"] > 0 for h in annot)


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="unknown architecture"):
        CNNModel(architecture={"pairs": 4})
    with pytest.raises(ValueError, match="terms.alpha"):
        CNNModel(terms={"alpha": 2.0})
    with pytest.raises(ValueError, match="prior_path"):
        AnnotatedCNNModel()
