"""Per-variant features for the annotation-aware models: the user's annotations plus built-ins."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from twasnet.adjust import is_constant
from twasnet.io.store import ANNOTATION_PREFIX

BUILTIN_FEATURES = ("abs_distance_to_tss", "maf")


def annotation_features(variants: pd.DataFrame, *, tss: int, window_bp: int) -> np.ndarray:
    """Feature matrix (p, d) float32 for the p variants of one gene's window.

    Columns: every ``annot_*`` column of ``variants`` (in their order, including the
    ``annot_annotation_missing`` indicator when present), then ``|pos - tss| / window_bp`` and the
    variant's MAF. The values are not standardised here: models that share parameters across
    genes standardise with statistics over all genes' variants, which involve no individual's data.
    """
    names = feature_names(variants)
    annotations = variants[[c for c in names if c.startswith(ANNOTATION_PREFIX)]]
    distance = np.abs(variants["pos"].to_numpy(dtype=np.float64) - tss) / float(window_bp)
    maf = variants["maf"].to_numpy(dtype=np.float64)
    return np.column_stack([annotations.to_numpy(dtype=np.float64), distance, maf]).astype(
        np.float32
    )


def feature_names(variants: pd.DataFrame) -> list[str]:
    """Names of the columns of :func:`annotation_features`, in order."""
    return [c for c in variants.columns if c.startswith(ANNOTATION_PREFIX)] + list(BUILTIN_FEATURES)


def feature_standardisation(features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd (d,) over the variants (rows) of every gene's feature matrix (p_g, d).

    Annotation priors shared across genes standardise features with these; they involve no
    individual's data. Constant features get sd 1 (they standardise to 0 and the values stay
    finite in JSON).
    """
    stacked = np.concatenate([np.asarray(f, dtype=np.float64) for f in features], axis=0)
    mean = stacked.mean(axis=0)
    sd = stacked.std(axis=0)
    sd[is_constant(mean, sd)] = 1.0
    return mean, sd
