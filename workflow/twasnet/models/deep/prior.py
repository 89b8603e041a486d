"""The across-gene annotation prior of ``cnn_annot``, fitted on training individuals only.

Two parts, both enrichment models of :func:`twasnet.models.enet_annot.fit_hit_prior`:

* ``additive``: exactly ``enet_annot``'s prior (hits: marginal association), for the core's
  penalty factors;
* ``nonlinear``: hits are variants with evidence of a nonlinear effect
  (:func:`twasnet.models.terms.variant_nonlinear_pvalues` below ``p_threshold``), so it learns
  which annotations mark variants that act recessively or interact. It is *cross-fitted*: genes
  are dealt into ``gene_folds`` groups by a hash of their id, and the relevance a gene's screen
  uses comes from the model fitted on the other groups' genes. A gene's own data thus never set
  its screening weights (the weighted Bonferroni screen keeps its level), and the strength that
  weighting gets is chosen on genes the prior was not fitted on.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from twasnet.errors import InputError
from twasnet.io.store import read_json, write_json
from twasnet.models.enet_annot import (
    EnetPriorGene,
    fit_enet_prior,
    fit_hit_prior,
    prior_relevance,
)
from twasnet.models.terms import variant_nonlinear_pvalues

__all__ = ["PRIOR_KIND", "fit_prior", "gene_group", "load_prior", "save_prior", "screen_relevance"]

PRIOR_KIND = "cnn_annot_prior/v2"
PRIOR_DEFAULTS = {"p_threshold": 1e-3, "gene_folds": 2, "screen_strengths": [0.0, 1.0]}


def gene_group(gene_id: str, n_groups: int) -> int:
    """The cross-fitting group of a gene: a stable hash of its id."""
    return zlib.crc32(str(gene_id).encode()) % int(n_groups)


def fit_prior(genes, *, seed: int, prior: dict | None = None) -> dict:
    """Fit both parts over ``genes``: ``(gene_id, TrainingInputs)`` pairs of training rows."""
    cfg = {**PRIOR_DEFAULTS, **(prior or {})}
    unknown = set(cfg) - set(PRIOR_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown cnn_annot.prior key(s) {sorted(unknown)}")
    k = int(cfg["gene_folds"])
    if k < 2:
        raise ValueError(f"cnn_annot.prior.gene_folds must be >= 2, got {k}")
    additive = fit_enet_prior(
        [EnetPriorGene(x=g.x, y=g.y, features=g.features) for _, g in genes], seed=seed
    )
    feats, hits, usable, group = [], [], [], []
    for gene_id, g in genes:
        pv = variant_nonlinear_pvalues(g.x, g.y)
        feats.append(np.asarray(g.features, np.float64))
        usable.append(np.ptp(np.asarray(g.x), axis=0) > 0)
        hits.append(usable[-1] & (pv < cfg["p_threshold"]))
        group.append(gene_group(gene_id, k))
    group = np.asarray(group)
    nonlinear = []
    for j in range(k):
        other = np.flatnonzero(group != j)
        if other.size == 0:
            other = np.arange(len(genes))  # every gene in one group: nothing to cross-fit
        nonlinear.append(
            fit_hit_prior(
                [feats[i] for i in other],
                [hits[i] for i in other],
                [usable[i] for i in other],
                seed=seed,
                p_threshold=cfg["p_threshold"],
            )
        )
    return {
        "kind": PRIOR_KIND,
        "n_features": int(additive["n_features"]),
        "gene_folds": k,
        "screen_strengths": sorted({float(t) for t in cfg["screen_strengths"]}),
        "additive": additive,
        "nonlinear": nonlinear,
        "n_genes": len(genes),
        "n_nonlinear_hits": int(sum(int(h.sum()) for h in hits)),
        "seed": int(seed),
    }


def screen_relevance(state: dict, features: np.ndarray, *, gene_id: str) -> np.ndarray:
    """Nonlinear relevance (p,) > 0 of a gene's variants, from the part fitted without it."""
    part = state["nonlinear"][gene_group(gene_id, state["gene_folds"])]
    return prior_relevance(part, features)


def save_prior(state: dict, path: str | Path) -> None:
    """Write the prior state as JSON, atomically."""
    write_json(state, path)


def load_prior(path: str | Path) -> dict:
    """Read a prior written by :func:`save_prior`; ``InputError`` if it is missing or not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: cnn_annot prior file not found; run the prior rule first")
    try:
        state = read_json(path)
    except ValueError as error:
        raise InputError(f"{path}: not valid JSON ({error}); delete it and rerun") from None
    if not isinstance(state, dict) or state.get("kind") != PRIOR_KIND:
        raise InputError(
            f"{path}: not a cnn_annot prior of kind {PRIOR_KIND!r}; delete it and rerun the "
            "prior rule"
        )
    return state
