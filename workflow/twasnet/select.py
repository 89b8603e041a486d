"""Which genes are worth modelling: REML cis-heritability on training individuals only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from twasnet.adjust import standardisation, standardise

SELECTION_MODES = ("reml", "all", "list")

# Status values of selection.tsv: "selected" or the reason a gene was dropped.
SELECTED = "selected"
NO_VARIANTS = "no_variants"
CONSTANT_EXPRESSION = "constant_expression"
NOT_HERITABLE = "not_heritable"
NOT_IN_LIST = "not_in_list"
REML_FAILED = "reml_failed"


def assess_gene(
    y: np.ndarray,
    dosages: np.ndarray,
    covariates: np.ndarray,
    *,
    train_idx: np.ndarray,
) -> dict:
    """cis-h² of one gene on the training individuals.

    ``y`` (n,) expression, ``dosages`` (n, p) cis genotypes, ``covariates`` (n, k) fixed effects;
    only rows ``train_idx`` are used. Genotypes are standardised with training statistics and
    variants constant among training individuals are left out.

    Returns a dict with ``status`` (``"ok"`` or a drop reason), ``reason`` and the REML fields
    ``h2, h2_se, h2_p, lrt_stat, converged, boundary, n_variants_used``.
    """
    out = {
        "status": "ok",
        "reason": "",
        "h2": np.nan,
        "h2_se": np.nan,
        "h2_p": np.nan,
        "lrt_stat": np.nan,
        "converged": False,
        "boundary": False,
        "n_variants_used": 0,
    }
    y_train = np.asarray(y, dtype=np.float64)[train_idx]
    if dosages.shape[1] == 0:
        return out | {
            "status": NO_VARIANTS,
            "reason": "no variant passed the filters in the window",
        }
    if np.ptp(y_train) == 0:
        return out | {
            "status": CONSTANT_EXPRESSION,
            "reason": "expression is constant among training individuals",
        }
    x_train = dosages[train_idx]
    mean, sd = standardisation(x_train)
    keep = np.isfinite(sd)
    if not keep.any():
        return out | {
            "status": NO_VARIANTS,
            "reason": "every variant in the window is constant among training individuals",
        }
    z = standardise(x_train[:, keep], mean[keep], sd[keep])
    from twasnet.heritability import reml_h2  # here: the workflow reads selections without scipy

    try:
        fit = reml_h2(y_train, z, covariates=covariates[train_idx])
    except (ValueError, np.linalg.LinAlgError) as err:
        return out | {"status": REML_FAILED, "reason": str(err), "n_variants_used": int(keep.sum())}
    return out | {
        "h2": fit.h2,
        "h2_se": fit.h2_se,
        "h2_p": fit.p_value,
        "lrt_stat": fit.lrt_stat,
        "converged": bool(fit.converged),
        "boundary": bool(fit.boundary),
        "n_variants_used": int(keep.sum()),
    }


def decide(
    assessment: dict, *, gene_id: str, mode: str, p_max: float, gene_list: Sequence[str] | None
) -> tuple[str, str]:
    """Final (status, reason) of a gene given its assessment and the selection mode."""
    if assessment["status"] != "ok":
        return assessment["status"], assessment["reason"]
    if mode == "all":
        return SELECTED, "mode all"
    if mode == "list":
        if gene_list is not None and gene_id in gene_list:
            return SELECTED, "in gene list"
        return NOT_IN_LIST, "not in select.gene_list"
    if mode != "reml":
        raise ValueError(f"unknown selection mode {mode!r}; expected one of {SELECTION_MODES}")
    if assessment["h2_p"] < p_max:
        return SELECTED, f"REML LRT p < {p_max:g}"
    return NOT_HERITABLE, f"REML LRT p = {assessment['h2_p']:.3g} >= {p_max:g}"


def selected_genes(selection_path: str) -> pd.DataFrame:
    """Rows of selection.tsv whose status is ``selected`` (gene_id, chrom, split)."""
    table = pd.read_csv(selection_path, sep="\t", dtype={"gene_id": str, "chrom": str})
    return table.loc[table["status"] == SELECTED, ["gene_id", "chrom", "split"]]
