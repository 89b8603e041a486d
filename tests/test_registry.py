"""The one catalogue of models: adding a model is one estimator plus one entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from twasnet.cohort import Cohort
from twasnet.io.store import GeneData, read_table, write_json
from twasnet.models import registry
from twasnet.stages.results import aggregate
from twasnet.train import train_gene

REPO = Path(__file__).resolve().parents[1]


class MeanModel:
    """A toy estimator: predicts the training mean."""

    def __init__(self, **ignored) -> None:
        self.mean = None

    def fit(self, inputs):
        self.mean = float(np.mean(inputs.y))
        self.p = np.asarray(inputs.x).shape[1]
        return self

    def predict(self, x):
        return np.full(np.asarray(x).shape[0], self.mean)

    def importance(self):
        return np.zeros(self.p)

    def hyperparameters(self):
        return {"mean": self.mean}

    def n_nonzero(self):
        return 0

    def state(self):
        return {"kind": "linear", "coef": [0.0] * self.p, "intercept": self.mean}


def test_a_registered_toy_model_trains_and_aggregates(monkeypatch, tmp_path):
    monkeypatch.setitem(
        registry.MODELS, "toy", registry.ModelSpec(lambda params: MeanModel(), "linear")
    )
    assert "toy" in registry.models_of("linear") and "toy" not in registry.exportable_models()
    rng = np.random.default_rng(0)
    n = 60
    variants = pd.DataFrame(
        {"chrom": "1", "pos": [10], "ref": "A", "alt": "G", "variant_id": "", "maf": 0.3}
    )
    samples = [f"S{i}" for i in range(n)]
    gene = GeneData("G", "1", 10, rng.binomial(2, 0.3, (n, 1)).astype(float), variants)
    expression = pd.DataFrame([rng.standard_normal(n)], index=["G"], columns=samples)
    cohort = Cohort(
        samples,
        expression,
        np.zeros((n, 0)),
        np.arange(48),
        np.arange(48, n),
        np.arange(48) % 4,
        split=0,
    )
    result = train_gene(gene, cohort, model_name="toy", model_params={}, window_bp=100, seed=1)
    assert result.record["status"] == "ok", result.record["reason"]
    assert result.record["model"] == "toy"
    write_json(result.record, tmp_path / "toy.json")
    aggregate(
        record_paths=[str(tmp_path / "toy.json")],
        out_r2=str(tmp_path / "r2.tsv"),
        out_times=str(tmp_path / "times.tsv"),
    )
    assert read_table(tmp_path / "r2.tsv")["model"].tolist() == ["toy"]


def test_the_config_schema_lists_exactly_the_catalogue():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert schema["properties"]["models"]["items"]["enum"] == list(registry.MODELS)
    sections = set(schema["properties"]) & set(registry.MODELS)
    assert sections == set(registry.MODELS)
