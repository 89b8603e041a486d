"""Covariate input: GTEx layout (covariates as rows) or samples as rows, tab-separated."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from twasnet.errors import InputError
from twasnet.io.common import duplicated_ids

_MISSING = frozenset({"", "na", "nan", "null", "none", "."})


def _read_raw(path: str) -> pd.DataFrame:
    """All cells as stripped text; row 0 is the header."""
    if not os.path.exists(path):
        raise InputError(f"Covariate file {path!r} does not exist; check the config.")
    try:
        raw = pd.read_csv(
            path,
            sep="\t",
            header=None,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            compression="infer",
            comment=None,
        )
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"Covariate file {path!r} is empty.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"Covariate file {path!r} is not a consistent tab-separated table ({exc})."
        ) from exc
    if raw.shape[0] < 2 or raw.shape[1] < 2:
        raise InputError(
            f"Covariate file {path!r} needs a header line and at least one data line with at "
            f"least two tab-separated columns; found {raw.shape[0]} line(s) x {raw.shape[1]} "
            "column(s)."
        )
    return raw.fillna("").apply(lambda c: c.str.strip())


def read_covariates(path: str, *, samples: Sequence[str] | None = None) -> pd.DataFrame:
    """Covariates as a (n_samples, n_covariates) float64 frame: index sample id, columns names.

    Layout: GTEx (first header `ID`, one row per covariate, one column per sample) or samples as
    rows (first column the sample id, one column per covariate). With `samples`, the axis whose
    labels overlap more with `samples` is taken as the sample axis (ties: the `ID` rule); the
    result still holds every sample in the file, in file order. Text covariates (e.g. sex "M"/"F")
    are one-hot encoded with the first level (sorted) dropped as reference: column `<name>_<level>`.
    """
    raw = _read_raw(path)
    header = list(raw.iloc[0])
    first = list(raw.iloc[1:, 0])
    gtex = header[0].upper() == "ID"
    if samples is not None:
        want = {str(s) for s in samples}
        over_cols = len(want.intersection(header[1:]))
        over_rows = len(want.intersection(first))
        if over_cols != over_rows:
            gtex = over_cols > over_rows
    body = raw.iloc[1:, 1:].to_numpy(dtype=object)
    if gtex:
        sample_ids, cov_names, cells = header[1:], first, body.T
    else:
        sample_ids, cov_names, cells = first, header[1:], body
    layout = "GTEx (covariates as rows)" if gtex else "samples as rows"

    for label, ids in (("sample id", sample_ids), ("covariate name", cov_names)):
        if any(s == "" for s in ids):
            raise InputError(
                f"Covariate file {path!r} ({layout}): an empty {label}; every {label} must be set."
            )
        dups = duplicated_ids(ids)
        if dups:
            raise InputError(
                f"Covariate file {path!r} ({layout}) has duplicate {label}s: "
                f"{', '.join(dups[:5])}. Each must appear once."
            )

    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(cov_names):
        col = pd.Series(cells[:, j], dtype=object)
        missing = col.str.lower().isin(_MISSING).to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise InputError(
                f"Covariate file {path!r} ({layout}): covariate {name!r} is missing for sample "
                f"{sample_ids[i]!r} (value {col.iloc[i]!r}). Covariates must be complete; impute "
                "them or drop the sample."
            )
        num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isfinite(num).all():
            columns[name] = num
            continue
        if np.isfinite(num).any():
            i = int(np.flatnonzero(~np.isfinite(num))[0])
            raise InputError(
                f"Covariate file {path!r} ({layout}): covariate {name!r} mixes numbers and text "
                f"(sample {sample_ids[i]!r} has {col.iloc[i]!r}). Use numbers only, or text "
                "levels only for a categorical covariate."
            )
        levels = sorted(set(col))
        for level in levels[1:]:
            key = f"{name}_{level}"
            if key in columns or key in cov_names:
                raise InputError(
                    f"Covariate file {path!r}: one-hot column {key!r} for categorical covariate "
                    f"{name!r} clashes with another covariate name; rename one of them."
                )
            columns[key] = (col == level).to_numpy(dtype=np.float64)
    frame = pd.DataFrame(columns, index=pd.Index(sample_ids, name="sample_id", dtype=str))
    frame.columns = pd.Index(list(columns), dtype=str)
    return frame.astype(np.float64)


# A covariate whose part not explained by the intercept and the covariates kept before it has a
# norm below this fraction of its own centred norm is collinear with them.
COLLINEAR_RTOL = 1e-8


def degenerate_covariates(frame: pd.DataFrame) -> dict[str, str]:
    """Covariates (columns of ``frame``, samples as rows) that an OLS adjustment with intercept
    cannot use, each with the reason: constant over the samples, or a linear combination of the
    intercept and the covariates before it (named). Judged in column order, so of two collinear
    covariates the second is reported; the rest form a full-rank design."""
    from twasnet.adjust import is_constant

    n = len(frame)
    basis = np.ones((n, 1)) / np.sqrt(max(n, 1))
    kept: list[str] = []
    reasons: dict[str, str] = {}
    for name in frame.columns:
        x = frame[name].to_numpy(dtype=np.float64)
        if n == 0 or is_constant(x.mean(), x.std()):
            reasons[str(name)] = f"constant ({x[0]:g} for every sample)" if n else "no samples"
            continue
        residual = x - basis @ (basis.T @ x)
        residual -= basis @ (basis.T @ residual)  # twice: Gram-Schmidt loses orthogonality
        if np.linalg.norm(residual) <= COLLINEAR_RTOL * np.linalg.norm(x - x.mean()):
            design = np.column_stack([np.ones(n), frame[kept].to_numpy(dtype=np.float64)])
            coef = np.linalg.lstsq(design, x, rcond=None)[0][1:]
            spread = frame[kept].std(ddof=0).to_numpy() * np.abs(coef)
            used = [k for k, s in zip(kept, spread, strict=True) if s > 1e-6 * x.std()]
            reasons[str(name)] = f"collinear with {', '.join(map(repr, used)) or 'the intercept'}"
            continue
        basis = np.column_stack([basis, residual / np.linalg.norm(residual)])
        kept.append(str(name))
    return reasons


def degenerate_message(path: str, reasons: dict[str, str], n_samples: int) -> str:
    """The warning for covariates :func:`degenerate_covariates` found and the run drops."""
    listed = "; ".join(f"{name!r}: {why}" for name, why in reasons.items())
    return (
        f"Covariate file {path!r}: dropping {len(reasons)} covariate(s) that cannot be adjusted "
        f"for on the {n_samples} cohort samples ({listed}). The other covariates are used; "
        "remove these from the file (or fix their values) to silence this warning."
    )
