"""Per-gene model artefacts, loadable and usable without the workflow.

Each fit writes ``<model>/<gene>.split<r>.model.json`` (linear models) or ``.model.pt`` (deep
models, ``torch.save``) holding the model name, gene, split, the estimator's state (linear:
coefficients and intercept on the dosage scale; deep: architecture, weights, standardisation), the
variant list with alleles, and the training individuals' mean dosage per variant.
:func:`load_artefact` turns one into a :class:`~twasnet.artefact.GeneModel` that predicts from
dosages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twasnet.artefact import GeneModel
from twasnet.io.store import fit_key, read_artefact

# Where a results directory keeps the artefacts (workflow/rules/common.smk, FIT_STEM):
# ``fits/<model>/<chrom>/<gene>.split<r>.model.<ext>``.
ARTEFACT_GLOB = "fits/*/*/*.split*.model.*"


def load_artefact(path: str | Path) -> GeneModel | None:
    """Load a fit's artefact; None when the gene was not modelled (no state was stored)."""
    artefact = read_artefact(path)
    if "state" not in artefact:
        return None
    state = artefact["state"]
    variants = pd.DataFrame(artefact["variants"])
    variants["chrom"] = variants["chrom"].astype(str)
    if "dosage_mean" in artefact:
        mean = np.asarray(artefact["dosage_mean"], dtype=np.float64)
    else:
        raise ValueError(
            f"artefact of {artefact['model']} / {artefact['gene_id']} has no training dosage "
            "means (written by an older twasnet); rerun its training job"
        )
    return GeneModel(
        model=str(artefact["model"]),
        gene_id=str(artefact["gene_id"]),
        split=int(artefact["split"]),
        variants=variants,
        dosage_mean=mean,
        state=state,
        # the TSS (artefacts of older versions: the middle of the window)
        tss=int(artefact.get("tss") or (variants["pos"].median() if len(variants) else 0)),
    )


def find_artefacts(results_dir: str | Path, *, models=None, split: int | None = None) -> list[Path]:
    """Artefact paths of a results directory, sorted; optionally only ``models`` / one split."""
    paths = sorted(Path(results_dir).glob(ARTEFACT_GLOB))
    if models is not None:
        paths = [p for p in paths if fit_key(p)[1] in set(models)]
    if split is not None:
        paths = [p for p in paths if fit_key(p)[2] == split]
    return paths
