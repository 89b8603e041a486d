"""Genes that cannot be modelled get a recorded status; fits only ever see training individuals."""

import numpy as np
import pandas as pd

from twasnet.cohort import Cohort
from twasnet.io.store import GeneData
from twasnet.select import CONSTANT_EXPRESSION, NO_VARIANTS, SELECTED, assess_gene, decide
from twasnet.train import RECORD_FIELDS, train_gene

RNG = np.random.default_rng(4)
N, P = 150, 40
DOSAGES = RNG.binomial(2, 0.3, size=(N, P)).astype(np.float32)
COVARIATES = RNG.standard_normal((N, 2))
SAMPLES = [f"S{i}" for i in range(N)]
TRAIN, TEST = np.arange(120), np.arange(120, N)
FOLDS = np.arange(120) % 5
VARIANTS = pd.DataFrame(
    {
        "chrom": "1",
        "pos": np.arange(P) * 10 + 1,
        "ref": "A",
        "alt": "G",
        "variant_id": "",
        "maf": 0.3,
    }
)


def _heritable_expression() -> np.ndarray:
    beta = np.zeros(P)
    beta[[3, 17]] = 0.8
    return DOSAGES @ beta + COVARIATES @ np.array([0.5, -0.5]) + RNG.standard_normal(N)


def test_gene_without_variants_is_a_status_not_a_crash():
    result = assess_gene(_heritable_expression(), DOSAGES[:, :0], COVARIATES, train_idx=TRAIN)
    assert result["status"] == NO_VARIANTS


def test_constant_expression_is_a_status_not_a_crash():
    result = assess_gene(np.ones(N), DOSAGES, COVARIATES, train_idx=TRAIN)
    assert result["status"] == CONSTANT_EXPRESSION
    decision = decide(result, gene_id="G", mode="all", p_max=0.05, gene_list=None)
    assert decision[0] == CONSTANT_EXPRESSION


def test_heritable_gene_is_selected_by_reml():
    result = assess_gene(_heritable_expression(), DOSAGES, COVARIATES, train_idx=TRAIN)
    assert result["h2_p"] < 0.01 and 0.2 < result["h2"] <= 1.0
    assert decide(result, gene_id="G", mode="reml", p_max=0.05, gene_list=None)[0] == SELECTED


def _train(expression, dosages=DOSAGES, variants=VARIANTS):
    gene = GeneData(gene_id="G", chrom="1", tss=200, dosages=dosages, variants=variants)
    table = pd.DataFrame([expression], index=["G"], columns=SAMPLES)
    cohort = Cohort(SAMPLES, table, COVARIATES, TRAIN, TEST, FOLDS, split=0)
    return train_gene(
        gene, cohort, model_name="enet", model_params={"alpha": 0.5}, window_bp=1000, seed=1
    )


def test_enet_record_has_every_field_and_scores_the_held_out_set():
    result = _train(_heritable_expression())
    assert set(result.record) == set(RECORD_FIELDS)
    assert result.record["status"] == "ok"
    assert result.record["n_test"] == len(TEST) == len(result.predictions)
    assert result.record["r2_pearson"] > 0.3
    assert result.record["n_nonzero"] == int(np.count_nonzero(result.importance["importance"]))
    assert len(result.artefact["state"]["coef"]) == P
    assert result.artefact["variants"]["pos"] == VARIANTS["pos"].tolist()


def test_skipped_gene_gives_a_record_with_its_reason():
    result = _train(np.ones(N))
    assert result.record["status"] == "skipped"
    assert "constant" in result.record["reason"]
    empty = _train(_heritable_expression(), DOSAGES[:, :0], VARIANTS.iloc[:0])
    assert empty.record["status"] == "skipped" and "no_variants" in empty.record["reason"]


def test_changing_held_out_expression_changes_no_fitted_weight():
    y = _heritable_expression()
    y_other = y.copy()
    y_other[TEST] = RNG.standard_normal(len(TEST)) * 50
    a, b = _train(y), _train(y_other)
    np.testing.assert_array_equal(a.importance["importance"], b.importance["importance"])
    assert a.record["hyperparameters"] == b.record["hyperparameters"]
