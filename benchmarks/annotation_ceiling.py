"""How much could an annotation prior help on a simulated scenario? A ceiling for cnn_annot.

For one split of a finished scenario run, every selected gene fits the annotated lasso that
decides cnn_annot's prior strength (:func:`twasnet.models.deep.annotated_lasso_errors`: the
linear warm-up with ``s_j = r_j^tau mean(r^-tau) delta_j``, fitted on training rows outside the
second inner fold, scored on that fold) with three relevances ``r``:

* ``learned``: the run's shared prior ``f_theta`` (``results/priors/cnn_annot.split<r>.pt``);
* ``simulated``: the simulation's own causal weight, ``exp`` of
  :func:`twasnet.simulate.causal_log_weight` (annotations standardised over the selected genes'
  variants rather than the whole chromosome) scaled to a maximum of 1, floored at ``exp(-4)``
  (variants below the causal MAF floor too) -- the true prior an annotation model could at best
  learn, with the causal indicator's range: s_j scales with r_j, so a wider range of r is a
  wider range of step sizes, and unfloored (``exp(-10)``) the fits diverged;
* ``causal``: 1 for the gene's simulated causal variants, 0.02 for the rest -- a perfect
  annotation, beyond any real one.

It prints, per relevance and ``tau``, the mean held-out-fold MSE (standardised expression) over
genes and its reduction from ``tau = 0`` (plain cnn's lasso) with the SE over genes. Run
``.venv/bin/python benchmarks/annotation_ceiling.py --run <scenario dir> [--split 0]``.
"""

from __future__ import annotations

# isort: off
import twasnet  # noqa: F401  first: sets OMP_WAIT_POLICY before torch starts OpenMP

# isort: on
import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from twasnet.models.cnn import check_architecture
from twasnet.models.deep import (
    TRAINING_DEFAULTS,
    PriorGene,
    annotated_lasso_errors,
    load_prior,
    prior_module,
)
from twasnet.simulate import ANNOTATION_COLUMNS, causal_log_weight
from twasnet.stages import selected_training_inputs

CAUSAL_RELEVANCE, OTHER_RELEVANCE = 1.0, 0.02
LOG_FLOOR = -4.0  # the same ~50x range of relevance as the causal indicator


class FixedRelevance(nn.Module):
    """A prior that returns the given relevance ``r`` (p,) whatever the features."""

    def __init__(self, relevance: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("relevance", torch.as_tensor(relevance, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.relevance


def simulated_relevance(variants: pd.DataFrame, tss: float, zmean, zsd, sim: dict) -> np.ndarray:
    """The simulation's causal weight of each variant (p,), scaled to a maximum of 1."""
    z = (variants[[f"annot_{c}" for c in ANNOTATION_COLUMNS]].to_numpy(float) - zmean) / zsd
    distance = np.abs(variants["pos"].to_numpy(float) - tss) / sim["window_bp"]
    logit = causal_log_weight(
        z,
        distance,
        annotation_informativeness=sim["annotation_informativeness"],
        tss_proximity=sim["tss_proximity"],
    )
    logit = np.where(variants["maf"].to_numpy() >= sim["causal_min_maf"], logit, -np.inf)
    return np.exp(np.clip(logit - logit.max(), LOG_FLOOR, 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a finished scenario directory")
    parser.add_argument("--split", type=int, default=0)
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    args = parser.parse_args()
    run, r = args.run, args.split
    config = json.loads((run / "results/provenance.json").read_text())["config"]
    sim = json.loads((run / "data/simulation.json").read_text())["parameters"]
    arch = check_architecture({**config["cnn_annot"]["architecture"], "pairs": 0})
    training = {**TRAINING_DEFAULTS, **config["cnn_annot"]["training"]}
    torch.set_num_threads(1)
    device = torch.device("cpu")
    genes = selected_training_inputs(
        split=r,
        selection_path=str(run / "results/genes/selection.tsv"),
        store_dirs=sorted(str(d) for d in (run / "results/cis").iterdir() if d.is_dir()),
        samples_path=str(run / "results/cohort/samples.tsv"),
        expression_path=str(run / "results/cohort/expression.parquet"),
        covariates_path=str(run / "results/cohort/covariates.parquet"),
        split_path=str(run / "results/split/split.tsv"),
        window_bp=config["cis"]["window_bp"],
        seed=config["seed"],
    )
    truth = pd.read_csv(run / "data/truth_variants.tsv.gz", sep="\t")
    truth = truth[truth["causal"] == 1]
    tss = pd.read_csv(run / "data/truth_genes.tsv", sep="\t").set_index("gene_id")["tss"]
    annotations = np.concatenate(
        [g.variants[[f"annot_{c}" for c in ANNOTATION_COLUMNS]].to_numpy(float) for _, g in genes]
    )
    zmean = annotations.mean(axis=0)
    zsd = np.where(annotations.std(axis=0) > 0, annotations.std(axis=0), 1.0)
    learned = prior_module(load_prior(run / f"results/priors/cnn_annot.split{r}.pt"))
    learned.requires_grad_(False)
    errors: dict[str, list[np.ndarray]] = {"learned": [], "simulated": [], "causal": []}
    for gene_id, g in genes:
        if len(np.unique(g.folds)) < 3:
            continue
        gene = PriorGene(x=g.x, y=g.y, folds=g.folds, features=g.features)
        causal = np.isin(g.variants["pos"].to_numpy(), truth.loc[truth.gene_id == gene_id, "pos"])
        priors = {
            "learned": learned,
            "simulated": FixedRelevance(
                simulated_relevance(g.variants, tss[gene_id], zmean, zsd, sim)
            ),
            "causal": FixedRelevance(np.where(causal, CAUSAL_RELEVANCE, OTHER_RELEVANCE)),
        }
        for name, prior in priors.items():
            errors[name].append(
                annotated_lasso_errors(
                    gene,
                    prior,
                    args.strengths,
                    arch=arch,
                    training=training,
                    seed=config["seed"],
                    device=device,
                )
            )
    rows = []
    for name, per_gene in errors.items():
        e = np.array(per_gene)  # (genes, strengths)
        gain = e[:, [0]] - e
        for t, tau in enumerate(args.strengths):
            rows.append(
                {
                    "relevance": name,
                    "tau": tau,
                    "mse": e[:, t].mean(),
                    "gain_vs_first": gain[:, t].mean(),
                    "gain_se": gain[:, t].std(ddof=1) / math.sqrt(len(e)),
                    "n_genes": len(e),
                }
            )
    print(f"{run} split {r}: annotated lasso, held-out inner fold")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
