"""The type of a trained gene model as stage 2 and the exports use it: what
:func:`twasnet.export.artefact.load_artefact` makes of a fit's artefact file. It lies below both
its users (:mod:`twasnet.predict`, :mod:`twasnet.export`), so neither imports upward."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class GeneModel:
    """One gene's fitted model: ``variants`` (p rows: chrom, pos, variant_id, ref, alt; the ALT
    dosage is the model's input), ``dosage_mean`` (p,) training means, and a predictor."""

    model: str
    gene_id: str
    split: int
    variants: pd.DataFrame
    dosage_mean: np.ndarray
    state: dict
    tss: int = 0
    _deep: object = None

    @property
    def is_linear(self) -> bool:
        return self.state.get("kind") == "linear"

    @property
    def coef(self) -> np.ndarray:
        """(p,) weights of a linear model on ALT dosages."""
        return np.asarray(self.state["coef"], dtype=np.float64)

    def predict(self, dosages: np.ndarray) -> np.ndarray:
        """Predicted expression (m,) from ALT dosages (m, p) in the order of ``variants``."""
        x = np.asarray(dosages)
        if x.ndim != 2 or x.shape[1] != len(self.variants):
            raise ValueError(f"dosages must have shape (m, {len(self.variants)}), got {x.shape}")
        if self.is_linear:
            return float(self.state["intercept"]) + np.asarray(x, np.float64) @ self.coef
        if self._deep is None:
            from twasnet.models.registry import load_predictor

            self._deep = load_predictor(self.state)
        return self._deep.predict(x)
