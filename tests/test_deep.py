"""Deep models: layer shapes, scaling L1, shared prior, determinism, devices, no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from twasnet.adjust import standardisation, standardise
from twasnet.models.cnn import (
    AnnotatedScaling,
    AnnotationPrior,
    ConvBody,
    InputScaling,
    ScaledCNN,
    block_lengths,
    check_architecture,
)
from twasnet.models.deep import (
    AnnotatedCNNModel,
    CNNModel,
    PriorGene,
    choose_grid_point,
    genotype_channels,
    load_model,
    load_prior,
    save_prior,
    screen_pairs,
    train_annotation_prior,
)
from twasnet.models.registry import TrainingInputs

FAST = {"max_epochs": 40, "patience": 8}


def _genotypes(rng, n, p, rho=0.5):
    z = np.empty((n, p))
    z[:, 0] = rng.standard_normal(n)
    for j in range(1, p):
        z[:, j] = rho * z[:, j - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    return (z > 0.4).astype(float) + (z > 1.2)


def _gene(seed=0, n=160, p=30, causal=(5, 20), noise=0.5, recessive=False):
    rng = np.random.default_rng(seed)
    x = _genotypes(rng, n, p)
    if recessive:
        g = 2.0 * (x[:, causal[0]] == 2)
    else:
        g = x[:, list(causal)].sum(axis=1)
    y = g + noise * rng.standard_normal(n)
    features = np.column_stack([np.isin(np.arange(p), causal), rng.random(p)]).astype(np.float32)
    return x, y, features


def _inputs(x, y, features, seed=1, n_folds=4):
    return TrainingInputs(
        x=x,
        y=y,
        folds=np.arange(len(y)) % n_folds,
        variants=pd.DataFrame(index=range(x.shape[1])),
        features=features,
        seed=seed,
        threads=1,
    )


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
@pytest.mark.parametrize("linear_path", [True, False])
@pytest.mark.parametrize(
    "blocks",
    [
        {"channels": [4], "kernel_size": 3, "stride": 1, "dilation": 1, "pool": 1},
        {"channels": [4, 8], "kernel_size": 5, "stride": 2, "dilation": 2, "pool": 2},
        {"channels": [2, 3, 4], "kernel_size": 4, "stride": 3, "dilation": 1, "pool": 3},
    ],
)
def test_shapes_through_every_block(blocks, linear_path, norm):
    arch = check_architecture(
        {
            **blocks,
            "linear_path": linear_path,
            "norm": norm,
            "genotype_encoding": "additive_dominance",
        }
    )
    p = 37
    body = ConvBody(p, arch)
    lengths = block_lengths(p, arch)
    h = torch.randn(5, 2, p)  # dosage and heterozygosity channels
    for block, c_out, length in zip(body.blocks, arch["channels"], lengths[1:], strict=True):
        h = block(h)
        assert h.shape == (5, c_out, length)
    net = ScaledCNN(InputScaling(p, 0.1), body)
    assert net(torch.randn(5, 2, p)).shape == (5,)


def test_dominance_encoding_adds_a_heterozygote_channel_the_linear_path_ignores():
    x = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    channels = genotype_channels(x, "additive_dominance")
    assert channels.shape == (2, 2, 3)
    np.testing.assert_array_equal(channels[:, 0], x)
    np.testing.assert_array_equal(channels[:, 1], [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(genotype_channels(x, "additive"), x[:, None, :])
    arch = check_architecture({"channels": [2], "genotype_encoding": "additive_dominance"})
    body = ConvBody(3, arch)
    assert body.blocks[0].conv.in_channels == 2
    z = torch.randn(4, 2, 3)
    torch.testing.assert_close(body(z, linear_only=True), z[:, 0].sum(1))


def test_bad_architecture_is_rejected():
    with pytest.raises(ValueError, match="activation"):
        check_architecture({"activation": "tanh"})
    with pytest.raises(ValueError, match="unknown architecture"):
        check_architecture({"kernel": 3})
    with pytest.raises(ValueError, match="genotype_encoding"):
        check_architecture({"genotype_encoding": "one_hot"})


def test_stronger_l1_zeroes_more_scaling_weights_and_causal_variants_rank_top():
    x, y, f = _gene(seed=3, noise=0.4)
    inp = _inputs(x, y, f)
    weak = CNNModel(training={**FAST, "l1_scaling": 0.01}, grid={}, device="cpu").fit(inp)
    strong = CNNModel(training={**FAST, "l1_scaling": 0.3}, grid={}, device="cpu").fit(inp)
    near0 = [int(np.sum(m.importance() < 1e-3)) for m in (weak, strong)]
    assert near0[1] > near0[0]
    assert set(np.argsort(-strong.importance())[:2]) == {5, 20}
    assert strong.n_nonzero() < x.shape[1]


def _prior_genes(n_genes=3, p=24):
    genes = []
    for i in range(n_genes):
        x, y, f = _gene(seed=10 + i, n=120, p=p, causal=(3 + i, 15))
        genes.append(PriorGene(x=x, y=y, folds=np.arange(120) % 4, features=f))
    return genes


def test_shared_prior_gets_gradient_from_every_gene():
    genes = _prior_genes()
    arch = check_architecture({"channels": [2], "kernel_size": 3})
    d = genes[0].features.shape[1]
    theta = AnnotationPrior(d, [4], feature_mean=torch.zeros(d), feature_sd=torch.ones(d))
    torch.nn.init.normal_(theta.mlp[-1].weight)  # non-zero so gradients reach the first layer
    nets = [
        ScaledCNN(
            AnnotatedScaling(theta, torch.tensor(g.features), 0.1), ConvBody(g.x.shape[1], arch)
        )
        for g in genes
    ]
    for net in nets:
        net.eval()  # no dropout: the joint gradient must equal the sum of the per-gene ones
    grads = []
    for g, net in zip(genes, nets, strict=True):
        theta.zero_grad()
        loss = torch.mean(
            (
                net(
                    torch.tensor(
                        genotype_channels(g.x, arch["genotype_encoding"]), dtype=torch.float32
                    )
                )
                - torch.tensor(g.y)
            )
            ** 2
        )
        loss.backward()
        grads.append(theta.mlp[0].weight.grad.clone())
        assert torch.count_nonzero(grads[-1]) > 0
    theta.zero_grad()
    total = sum(
        torch.mean(
            (
                n(
                    torch.tensor(
                        genotype_channels(g.x, arch["genotype_encoding"]), dtype=torch.float32
                    )
                )
                - torch.tensor(g.y)
            )
            ** 2
        )
        for g, n in zip(genes, nets, strict=True)
    )
    total.backward()
    torch.testing.assert_close(theta.mlp[0].weight.grad, sum(grads))


def test_prior_trains_saves_loads_and_frozen_mode_keeps_theta(tmp_path):
    genes = _prior_genes()
    train = {**FAST, "max_epochs": 10}
    state = train_annotation_prior(
        genes,
        architecture={},
        training=train,
        prior={"max_epochs": 10, "strengths": [1]},  # tau = 0 would leave theta without gradient
        seed=3,
        device="cpu",
    )
    assert state["n_genes"] == 3 and 1 <= state["best_epoch"] <= state["n_epochs_run"]
    path = tmp_path / "prior.pt"
    save_prior(state, path)
    assert [p.name for p in tmp_path.iterdir()] == ["prior.pt"]  # no temporary file left
    loaded = load_prior(path)
    for k, v in state["theta"].items():
        assert torch.equal(loaded["theta"][k], v)

    x, y, f = _gene(seed=30, n=120, p=24)
    frozen = AnnotatedCNNModel(training=FAST, grid={}, prior_path=str(path), device="cpu")
    frozen.fit(_inputs(x, y, f))
    after = frozen.net.scaling.prior.mlp.state_dict()
    for k, v in state["theta"].items():
        assert torch.equal(after[k], v)
    tuned = AnnotatedCNNModel(
        training=FAST, grid={}, prior_path=str(path), prior_mode="finetune", device="cpu"
    ).fit(_inputs(x, y, f))
    changed = tuned.net.scaling.prior.mlp.state_dict()
    assert any(not torch.equal(changed[k], v) for k, v in state["theta"].items())


def test_missing_prior_file_is_a_clear_error(tmp_path):
    from twasnet.errors import InputError

    with pytest.raises(InputError, match="not found"):
        load_prior(tmp_path / "nope.pt")


def test_same_seed_same_weights_different_seed_different():
    x, y, f = _gene(seed=4)

    def fit(seed, cls=CNNModel):
        return cls(training=FAST, device="cpu").fit(_inputs(x, y, f, seed=seed))

    a, b, c = fit(7), fit(7), fit(8)
    assert np.array_equal(a.predict(x), b.predict(x))
    for k, v in a.state()["state_dict"].items():
        assert torch.equal(v, b.state()["state_dict"][k])
    assert not np.array_equal(a.predict(x), c.predict(x))
    la, lb = fit(7, AnnotatedCNNModel), fit(7, AnnotatedCNNModel)
    assert np.array_equal(la.predict(x), lb.predict(x))


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA")
    return request.param


def test_fit_predict_on_device(device):
    x, y, f = _gene(seed=5, n=100, p=24)
    m = CNNModel(training={**FAST, "max_epochs": 5}, device=device).fit(_inputs(x, y, f))
    assert m.device_name == device
    pred = m.predict(x)
    assert pred.shape == (100,) and np.all(np.isfinite(pred))
    hp = m.hyperparameters()
    assert {"l1_scaling", "best_epoch", "n_epochs_run", "val_mse"} <= set(hp)
    assert m.importance().shape == (24,)


def test_validation_rows_steer_early_stopping_but_not_standardisation():
    x, y, f = _gene(seed=6)
    folds = np.arange(len(y)) % 4
    no_refit = {**FAST, "refit": False}
    base = CNNModel(training=no_refit, grid={}, device="cpu").fit(_inputs(x, y, f))
    y2 = y.copy()
    y2[folds == 0] = np.random.default_rng(0).standard_normal(int(np.sum(folds == 0))) * 5
    x2 = x.copy()
    x2[folds == 0] = 2.0  # validation dosages must not enter the standardisation either
    other = CNNModel(training=no_refit, grid={}, device="cpu").fit(_inputs(x2, y2, f))
    fit_rows = folds != 0
    np.testing.assert_allclose(other._x_mean[0], x[fit_rows].mean(axis=0))
    np.testing.assert_allclose(other._y_mean, y[fit_rows].mean())
    assert other.hyperparameters()["best_epoch"] != base.hyperparameters()["best_epoch"] or not (
        np.array_equal(other.predict(x), base.predict(x))
    )


def test_refit_uses_every_training_row_for_the_chosen_epochs():
    x, y, f = _gene(seed=6)
    m = CNNModel(training=FAST, grid={}, device="cpu").fit(_inputs(x, y, f))
    np.testing.assert_allclose(m._x_mean[0], x.mean(axis=0))
    np.testing.assert_allclose(m._y_mean, y.mean())
    early = CNNModel(training={**FAST, "refit": False}, grid={}, device="cpu").fit(_inputs(x, y, f))
    assert m.hyperparameters()["best_epoch"] == early.hyperparameters()["best_epoch"]
    assert not np.array_equal(m.predict(x), early.predict(x))


def test_joint_phase_starts_from_the_linear_model():
    """The head's read-out starts at 0: a fresh network computes exactly its linear path."""
    arch = check_architecture(
        {"channels": [2], "kernel_size": 3, "genotype_encoding": "additive_dominance"}
    )
    net = ScaledCNN(InputScaling(24, 0.3), ConvBody(24, arch))
    z = torch.randn(5, 2, 24)
    assert torch.equal(net(z), net(z, linear_only=True))


def test_uninformative_prior_reduces_cnn_annot_to_cnn():
    """A relevance that is the same for every variant gives the scaling of ``cnn`` exactly."""
    x, y, f = _gene(seed=3)
    d = f.shape[1]
    theta = AnnotationPrior(d, [4], feature_mean=torch.zeros(d), feature_sd=torch.ones(d))
    scaling = AnnotatedScaling(theta, torch.tensor(f), 0.25)
    torch.testing.assert_close(scaling.weights(), torch.full((f.shape[0],), 0.25))


@pytest.mark.parametrize(
    "arch",
    [
        {"genotype_encoding": "additive"},
        {"genotype_encoding": "additive_dominance"},
        {"genotype_encoding": "additive", "pairs": 3},
    ],
)
@pytest.mark.parametrize("cls", [CNNModel, AnnotatedCNNModel])
def test_state_round_trip_predicts_identically(cls, arch):
    x, y, f = _gene(seed=8)
    if arch.get("pairs"):
        y = y + 2.0 * (x[:, 2] - 1) * (x[:, 25] - 1)  # an interaction the screen finds
    m = cls(
        architecture=arch,
        training={**FAST, "max_epochs": 8},
        device="cpu",
    ).fit(_inputs(x, y, f))
    back = load_model(m.state())
    assert np.array_equal(back.predict(x), m.predict(x))
    assert np.array_equal(back.importance(), m.importance())
    assert back.hyperparameters() == m.hyperparameters()
    assert bool(m.hyperparameters()["variant_pairs"]) == bool(arch.get("pairs"))


def _interaction(seed, n, p, a, b, *, strength=1.0):
    """Genotypes (n, p) and an expression driven only by the product of two variants' dosages."""
    rng = np.random.default_rng(seed)
    x = _genotypes(rng, n, p, rho=0.3)
    q = (x[:, a] - x[:, a].mean()) * (x[:, b] - x[:, b].mean())
    return x, strength * q / q.std() + rng.standard_normal(n)


def _standardised(x):
    return standardise(x, *standardisation(x))


def test_pair_screen_finds_a_planted_interaction_in_any_block_size():
    x, y = _interaction(1, 400, 60, 4, 51)
    z = _standardised(x)
    found = screen_pairs(z, y, max_pairs=5, alpha=0.05)
    assert found[0].tolist() == [4, 51]
    assert np.array_equal(screen_pairs(z, y, max_pairs=5, alpha=0.05, block=7), found)
    assert len(screen_pairs(z, y, max_pairs=1, alpha=0.05)) == 1


def test_pair_screen_holds_its_family_wise_level_under_the_null():
    rng = np.random.default_rng(0)
    x = _genotypes(rng, 300, 40, rho=0.3)
    z = _standardised(x)
    replicates = 200
    hits = sum(
        len(screen_pairs(z, rng.standard_normal(300), max_pairs=5, alpha=0.05)) > 0
        for _ in range(replicates)
    )
    # Bonferroni bounds the family-wise rate by 0.05; 99 % binomial limit for 200 draws: 0.09
    assert hits / replicates <= 0.09


def test_pairwise_path_captures_an_interaction_the_convolution_cannot_reach():
    x, y = _interaction(2, 500, 40, 3, 36)
    train, test = np.arange(400), np.arange(400, 500)
    f = np.zeros((40, 2), dtype=np.float32)

    def fitted(pairs):
        arch = {"channels": [4], "kernel_size": 3, "stride": 1, "pool": 1, "hidden": 8}
        return CNNModel(
            architecture=arch | {"pairs": pairs}, training=FAST, grid={"l1_scaling": [0.05]}
        ).fit(_inputs(x[train], y[train], f))

    def r2(m):
        return np.corrcoef(m.predict(x[test]), y[test])[0, 1] ** 2

    with_pairs, without = fitted(4), fitted(0)
    assert with_pairs.hyperparameters()["variant_pairs"][0] == [3, 36]
    assert without.hyperparameters()["variant_pairs"] == []
    assert r2(with_pairs) > r2(without) + 0.2
    assert set(np.argsort(-with_pairs.importance())[:2]) == {3, 36}


def test_cnn_beats_least_squares_on_a_recessive_variant():
    x, y, f = _gene(seed=9, n=500, p=15, causal=(7, 7), noise=0.3, recessive=True)
    train, test = np.arange(400), np.arange(400, 500)
    m = CNNModel(
        architecture={"channels": [8], "kernel_size": 3, "stride": 1, "pool": 1, "hidden": 16},
        training={"max_epochs": 300, "patience": 30, "lr": 0.01},
        grid={"l1_scaling": [0.01]},
        device="cpu",
    ).fit(_inputs(x[train], y[train], f))

    def r2(pred):
        return 1 - np.sum((y[test] - pred) ** 2) / np.sum((y[test] - y[test].mean()) ** 2)

    mean, sd = x[train].mean(0), x[train].std(0)
    design = np.column_stack([np.ones(400), (x[train] - mean) / sd])
    beta = np.linalg.lstsq(design, y[train], rcond=None)[0]
    linear = np.column_stack([np.ones(100), (x[test] - mean) / sd]) @ beta
    assert r2(m.predict(x[test])) > r2(linear) + 0.05


def test_one_se_rule_keeps_the_reference_point_unless_clearly_beaten():
    rng = np.random.default_rng(0)
    reference = rng.chisquare(1, 200)
    noisy = reference + rng.normal(0, 0.5, 200)  # better by chance at most
    noisy -= noisy.mean() - reference.mean() + 0.01
    clear = reference * 0.6
    for other in (noisy, clear):
        assert choose_grid_point([reference, other], rule="lowest") == 1
    assert choose_grid_point([reference, noisy], rule="one_se") == 0
    assert choose_grid_point([reference, clear], rule="one_se") == 1
    with pytest.raises(ValueError, match="grid_choice"):
        CNNModel(training={"grid_choice": "best"})


@pytest.mark.parametrize("recessive", [False, True])
def test_one_se_choice_of_encoding_follows_the_genetic_model(recessive):
    x, y, f = _gene(seed=9, n=500, p=15, causal=(7, 7), noise=0.3, recessive=recessive)
    m = CNNModel(
        architecture={"channels": [4], "kernel_size": 3, "stride": 1, "pool": 1, "hidden": 8},
        training=FAST | {"grid_choice": "one_se"},
        grid={"genotype_encoding": ["additive", "additive_dominance"], "l1_scaling": [0.05]},
        device="cpu",
    ).fit(_inputs(x, y, f))
    expected = "additive_dominance" if recessive else "additive"
    assert m.hyperparameters()["genotype_encoding"] == expected


def _strength_genes(informative: bool, n_genes=6, p=60, n=150):
    genes = []
    for i in range(n_genes):
        causal = tuple(sorted(np.random.default_rng(200 + i).choice(p, 3, replace=False)))
        x, y, f = _gene(seed=50 + i, n=n, p=p, causal=causal, noise=2.0)
        if not informative:  # the marker column marks random variants instead
            f[:, 0] = np.random.default_rng(90 + i).random(p) < 3 / p
        genes.append(PriorGene(x=x, y=y, folds=np.arange(n) % 5, features=f))
    return genes


@pytest.mark.parametrize("informative", [True, False])
def test_prior_strength_follows_what_annotations_tell_unseen_genes(informative):
    """tau is chosen on genes the prior did not train on: a feature marking the causal variants
    earns tau > 0, a feature unrelated to them leaves tau = 0 (the annotated model is cnn)."""
    state = train_annotation_prior(
        _strength_genes(informative),
        architecture={"channels": [2], "kernel_size": 3},
        training={**FAST, "linear_epochs": 80},
        prior={"max_epochs": 30, "hidden": [4]},
        seed=5,
        device="cpu",
    )
    selection = state["strength_selection"]
    assert selection["n_genes"] == 6 and len(selection["mse"]) == 3
    assert (state["strength"] > 0) == informative
    assert (max(selection["gain"]) > 0.02) == informative


def test_zero_prior_strength_is_cnn_bit_for_bit(tmp_path):
    genes = _prior_genes()
    state = train_annotation_prior(
        genes, training={**FAST, "max_epochs": 10}, prior={"strengths": [0]}, seed=3, device="cpu"
    )
    assert state["strength"] == 0.0 and state["strength_selection"]["n_genes"] == 0
    save_prior(state, tmp_path / "prior.pt")
    x, y, f = _gene(seed=31, n=120, p=24)
    arch = {"pairs": 2, "genotype_encoding": "additive_dominance"}
    plain = CNNModel(architecture=arch, training=FAST, device="cpu").fit(_inputs(x, y, f))
    annotated = AnnotatedCNNModel(
        architecture=arch, training=FAST, prior_path=str(tmp_path / "prior.pt"), device="cpu"
    ).fit(_inputs(x, y, f))
    assert np.array_equal(annotated.predict(x), plain.predict(x))
    assert annotated.hyperparameters()["prior_strength"] == 0.0
