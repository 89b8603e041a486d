"""How much could annotations help on a simulated scenario? A ceiling for enet_annot and cnn_annot.

For one split of a finished scenario run, every selected gene (training individuals only, its
inner K-fold CV) is scored along the two routes by which twasnet's models use annotations, each
with three relevances ``r``:

* ``learned``: the run's cnn_annot prior (``results/priors/cnn_annot.split<r>.json``; for the
  nonlinear route the part fitted without the gene); left out, with a note, when the run did not
  train cnn_annot;
* ``simulated``: the simulation's own weight (``exp`` of :func:`twasnet.simulate.causal_log_weight`
  or :func:`twasnet.simulate.nonlinear_log_weight`, annotations standardised over the selected
  genes' variants), scaled to a maximum of 1 and floored at ``exp(-4)``;
* ``causal``: 1 for the gene's simulated causal variants of that route (additive, or acting
  recessively / interacting), 0.02 for the rest -- a perfect annotation, beyond any real one.

Routes: ``additive`` -- the elastic net with penalty factors ``r^-tau`` (enet_annot's and the core
of cnn_annot); the score is its minimum CV MSE. ``nonlinear`` -- the deep models' term screen
weighted by ``r^tau`` on the residual of the core elastic net (cnn_annot's nonlinear search); the
score is the K-fold CV MSE of core + terms. Both are divided by var(y), and the table gives the mean
over genes, its reduction from ``tau = 0`` and the SE over genes. Run
``.venv/bin/python benchmarks/annotation_ceiling.py --run <scenario dir> [--split 0]``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from twasnet.cohort import CohortFiles
from twasnet.models.deep import CNNModel
from twasnet.models.deep.prior import load_prior, screen_relevance
from twasnet.models.enet import ElasticNetCV
from twasnet.models.enet_annot import prior_relevance
from twasnet.simulate import ANNOTATION_COLUMNS, causal_log_weight, nonlinear_log_weight
from twasnet.stages.training import selected_training_inputs

CAUSAL_RELEVANCE, OTHER_RELEVANCE = 1.0, 0.02
LOG_FLOOR = -4.0  # the same ~50x range of relevance as the causal indicator


def simulated_relevance(variants, tss, zmean, zsd, sim, *, route: str) -> np.ndarray:
    """The simulation's weight of each variant (p,) on ``route``, scaled to a maximum of 1."""
    z = (variants[[f"annot_{c}" for c in ANNOTATION_COLUMNS]].to_numpy(float) - zmean) / zsd
    distance = np.abs(variants["pos"].to_numpy(float) - tss) / sim["window_bp"]
    if route == "additive":
        inform = {"annotation_informativeness": sim["annotation_informativeness"]}
        logit = causal_log_weight(z, distance, tss_proximity=sim["tss_proximity"], **inform)
    else:
        inform = sim.get("nonlinear_annotation_informativeness", 0.0)
        logit = nonlinear_log_weight(
            z,
            distance,
            tss_proximity=sim["tss_proximity"],
            nonlinear_annotation_informativeness=inform,
        )
    logit = np.where(variants["maf"].to_numpy() >= sim["causal_min_maf"], logit, -np.inf)
    return np.exp(np.clip(logit - logit.max(), LOG_FLOOR, 0.0))


class _Weighted(CNNModel):
    """cnn's core and term screen (no encoder) with the given screen weights."""

    def __init__(self, options, **params):
        super().__init__(**params)
        self.options = options

    def _screen_weights(self, inputs):
        return self.options


def additive_errors(g, relevances, strengths, enet_params) -> dict[str, list[float]]:
    """Minimum CV MSE per relevance and strength; tau = 0 (no weights) is fitted once."""

    def cv_min(penalty_factor) -> float:
        fit = ElasticNetCV(**enet_params).fit(
            g.x, g.y, folds=g.folds, penalty_factor=penalty_factor
        )
        return float(fit.cv_mse_.min())

    flat = cv_min(None)
    return {
        name: [flat if t == 0 else cv_min(r**-t) for t in strengths]
        for name, r in relevances.items()
    }


def nonlinear_errors(g, relevances, strengths, deep_params) -> dict[str, list[float]]:
    """CV MSE of core + screened terms per relevance and strength: one core fit, one screen per
    (relevance, tau > 0), and the unweighted screen (tau = 0) once."""
    weighted = [(name, t) for name in relevances for t in strengths if t > 0]
    options = [(0.0, None)] + [(t, relevances[name] ** t) for name, t in weighted]
    model = _Weighted(options, **{**deep_params, "training": {"max_epochs": 0}})
    model.fit(g)
    _, errors = model.terms_cv_errors_
    mse = {key: float(e.mean()) for key, e in zip(weighted, errors[1:], strict=True)}
    flat = float(errors[0].mean())
    return {name: [flat if t == 0 else mse[(name, t)] for t in strengths] for name in relevances}


def _truth_masks(run: Path):
    truth = pd.read_csv(run / "data/truth_variants.tsv.gz", sep="\t")
    truth = truth[truth["causal"] == 1]
    kinds = (
        truth["effect_kind"].astype(str) if "effect_kind" in truth else pd.Series("", truth.index)
    )
    nonlinear = kinds.str.contains("dominance|epistasis")
    return truth, nonlinear


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a finished scenario directory")
    parser.add_argument("--split", type=int, default=0)
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    parser.add_argument(
        "--genes", type=int, default=None, help="score only the first N selected genes"
    )
    args = parser.parse_args()
    run, r = args.run, args.split
    config = json.loads((run / "results/provenance/static.json").read_text())["config"]
    sim = json.loads((run / "data/simulation.json").read_text())["parameters"]
    genes = selected_training_inputs(
        split=r,
        selection_path=str(run / "results/genes/selection.tsv"),
        store_dirs=sorted(str(d) for d in (run / "results/cis").iterdir() if d.is_dir()),
        cohort_files=CohortFiles.under(run / "results"),
        window_bp=config["cis"]["window_bp"],
        seed=config["seed"],
    )
    truth, nonlinear_kind = _truth_masks(run)
    tss = pd.read_csv(run / "data/truth_genes.tsv", sep="\t").set_index("gene_id")["tss"]
    annotations = np.concatenate(
        [g.variants[[f"annot_{c}" for c in ANNOTATION_COLUMNS]].to_numpy(float) for _, g in genes]
    )
    zmean = annotations.mean(axis=0)
    zsd = np.where(annotations.std(axis=0) > 0, annotations.std(axis=0), 1.0)
    prior_path = run / f"results/priors/cnn_annot.split{r}.json"
    prior = load_prior(prior_path) if prior_path.exists() else None
    if prior is None:
        print(f"{prior_path} not found (cnn_annot not in the run): no 'learned' relevance")
    deep = config.get("cnn_annot") or config["cnn"]
    cnn = {k: v for k, v in deep.items() if k not in ("prior", "strengths")}
    enet = {k: config["enet"][k] for k in ("alpha", "n_lambda", "lambda_min_ratio")}
    rows = []
    for gene_id, g in genes[: args.genes]:
        pos = g.variants["pos"].to_numpy()
        mine = truth["gene_id"] == gene_id
        var_y = float(np.var(g.y))
        for route in ("additive", "nonlinear"):
            marks = truth.loc[
                mine & (nonlinear_kind if route == "nonlinear" else ~nonlinear_kind), "pos"
            ]
            causal = np.isin(pos, marks)
            relevances = {
                "simulated": simulated_relevance(
                    g.variants, tss[gene_id], zmean, zsd, sim, route=route
                ),
                "causal": np.where(causal, CAUSAL_RELEVANCE, OTHER_RELEVANCE),
            }
            if prior is not None:
                relevances["learned"] = (
                    prior_relevance(prior["additive"], g.features)
                    if route == "additive"
                    else screen_relevance(prior, g.features, gene_id=gene_id)
                )
            if route == "additive":
                errors = additive_errors(g, relevances, args.strengths, enet)
            else:
                errors = nonlinear_errors(g, relevances, args.strengths, cnn)
            for name, e in errors.items():
                rows += [
                    {
                        "route": route,
                        "relevance": name,
                        "tau": t,
                        "gene_id": gene_id,
                        "mse": e[i] / var_y,
                        "gain": (e[0] - e[i]) / var_y,
                    }
                    for i, t in enumerate(args.strengths)
                ]
    table = pd.DataFrame(rows)
    summary = table.groupby(["route", "relevance", "tau"], sort=False).agg(
        mse=("mse", "mean"),
        gain=("gain", "mean"),
        gain_se=("gain", lambda v: v.std(ddof=1) / math.sqrt(len(v))),
        n_genes=("gain", "size"),
    )
    print(f"{run} split {r}: CV MSE / var(y) over genes, by annotation route and relevance")
    print(summary.reset_index().to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
