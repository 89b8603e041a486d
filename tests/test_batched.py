"""Genes trained together (`<deep>.batch_genes`): each gene's stacked encoder gets exactly the
hyper-parameters, weights and held-out predictions it gets alone, on the CPU bit for bit; and the
same on CUDA (skipped without a GPU). The workflow's batched runs are compared with per-gene
ones in test_rerun.py and test_leakage.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from twasnet.metrics import prediction_metrics
from twasnet.models.deep import AnnotatedCNNModel, CNNModel, fit_together
from twasnet.models.registry import TrainingInputs
from twasnet.stages.training import genes_per_fit

N_TRAIN, N_TEST = 240, 80
# candidates 16: genes with 40-90 variants share one stack; the one with 12 gets its own
CFG = {
    "device": "cpu",
    "n_se": 0.0,
    "terms": {"candidates": 16, "max_terms": 2, "alpha": 0.05},
    "architecture": {"candidates": 16, "channels": [4], "hidden": 8},
    "training": {"max_epochs": 25, "patience": 3, "lr": 0.01},
}


def _gene(rng, p: int, *, nonlinear: float, gene_id: str):
    """(training inputs, held-out dosages, held-out expression) of one simulated gene."""
    n = N_TRAIN + N_TEST
    x = rng.binomial(2, rng.uniform(0.1, 0.5, p), size=(n, p)).astype(np.float64)
    z = (x - x.mean(0)) / x.std(0)
    y = 0.3 * z[:, 0] + nonlinear * np.tanh(2 * z[:, 3] * z[:, p // 2]) + rng.normal(size=n)
    inputs = TrainingInputs(
        x=x[:N_TRAIN],
        y=y[:N_TRAIN],
        folds=np.arange(N_TRAIN) % 5,
        variants=pd.DataFrame(),
        features=np.zeros((p, 2), np.float32),
        seed=int(rng.integers(2**31)),
        gene_id=gene_id,
    )
    return inputs, x[N_TRAIN:], y[N_TRAIN:]


@pytest.fixture(scope="module")
def genes():
    rng = np.random.default_rng(3)
    shapes = [(40, 0.8), (90, 0.0), (12, 0.8), (60, 0.8), (75, 0.4)]
    return [_gene(rng, p, nonlinear=a, gene_id=f"g{k}") for k, (p, a) in enumerate(shapes)]


def _outcome(model, x_test, y_test):
    predicted = model.predict(x_test)
    return model.hyperparameters(), predicted, prediction_metrics(y_test, predicted)


def test_a_batch_gives_each_gene_its_own_fit_bit_for_bit(genes):
    alone = []
    for inputs, x_test, y_test in genes:
        alone.append(_outcome(CNNModel(**CFG).fit(inputs), x_test, y_test))
    used = [hp["encoder_used"] for hp, _, _ in alone]
    assert sum(used) >= 2 and not all(used), "encoders kept and not: both paths run"
    assert len({hp["encoder_epochs"] for hp, _, _ in alone}) > 2, "genes stop at other epochs"
    for order in ([0, 1, 2, 3, 4], [4, 2, 0, 3, 1]):  # genes of a batch never affect each other
        models = [CNNModel(**CFG) for _ in order]
        fit_together(models, [genes[g][0] for g in order])
        for g, model in zip(order, models, strict=True):
            hp, predicted, metrics = _outcome(model, *genes[g][1:])
            assert hp == alone[g][0]
            np.testing.assert_array_equal(predicted, alone[g][1])
            assert metrics["r2_pearson"] == alone[g][2]["r2_pearson"]


def test_the_annotated_model_batches_too(genes, tmp_path):
    from twasnet.models.deep.prior import fit_prior, save_prior

    prior = tmp_path / "prior.pt"
    save_prior(fit_prior([(i.gene_id, i) for i, _, _ in genes], seed=0), prior)
    cfg = CFG | {"prior_path": str(prior)}
    alone = [AnnotatedCNNModel(**cfg).fit(i) for i, _, _ in genes[:4]]
    together = [AnnotatedCNNModel(**cfg) for _ in range(4)]
    fit_together(together, [i for i, _, _ in genes[:4]])
    for a, b, (_, x_test, _) in zip(alone, together, genes, strict=False):
        assert a.hyperparameters() == b.hyperparameters()
        np.testing.assert_array_equal(a.predict(x_test), b.predict(x_test))


def test_a_stack_needs_one_configuration_and_no_dropout(genes):
    inputs = [genes[0][0], genes[1][0]]
    with pytest.raises(ValueError, match="one model configuration"):
        other = CFG | {"training": CFG["training"] | {"lr": 0.02}}
        fit_together([CNNModel(**CFG), CNNModel(**other)], inputs)
    dropout = CFG | {"architecture": CFG["architecture"] | {"dropout": 0.1}}
    with pytest.raises(ValueError, match="dropout"):
        fit_together([CNNModel(**dropout), CNNModel(**dropout)], inputs)


def test_batch_size_auto_is_the_chunk_on_cuda_and_one_gene_on_cpu():
    assert genes_per_fit("enet", {"batch_genes": 8}, 50) == 1  # fitted one after another
    assert genes_per_fit("cnn", {"device": "cpu"}, 50) == 1
    assert genes_per_fit("cnn", {"device": "cpu", "batch_genes": 8}, 50) == 8
    assert genes_per_fit("cnn_annot", {"device": "cpu", "batch_genes": "auto"}, 50) == 1
    dropout = {"device": "cpu", "architecture": {"dropout": 0.1}}
    assert genes_per_fit("cnn", dropout, 50) == 1
    with pytest.raises(ValueError, match="batch_genes 8 needs architecture.dropout 0"):
        genes_per_fit("cnn", dropout | {"batch_genes": 8}, 50)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none is visible)")
def test_on_cuda_a_batch_matches_each_gene_alone(genes):
    """On the GPU the same holds within float32 rounding (kernels may differ by batch size)."""
    cfg = CFG | {"device": "cuda"}
    assert genes_per_fit("cnn", cfg, 50) == 50
    alone = [CNNModel(**cfg).fit(i) for i, _, _ in genes]
    together = [CNNModel(**cfg) for _ in genes]
    fit_together(together, [i for i, _, _ in genes])
    for a, b, (_, x_test, _) in zip(alone, together, genes, strict=True):
        assert a.hyperparameters()["encoder_epochs"] == b.hyperparameters()["encoder_epochs"]
        np.testing.assert_allclose(a.predict(x_test), b.predict(x_test), rtol=1e-5, atol=1e-6)
