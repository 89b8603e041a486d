"""Stage 2, step 2: association of a phenotype with predicted expression.

Individual level (:func:`associate_genes`): for each gene, the phenotype is regressed on the gene's
standardised predicted expression with the covariates (OLS for a continuous phenotype, logistic
regression for a 0/1 one; statsmodels), giving effect, SE, z/t statistic, p and BH FDR.
Summary level (:func:`spredixcan_z`): the S-PrediXcan z-score of a gene from GWAS z-scores of its
model SNPs, their weights and their LD covariance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

ASSOCIATION_COLUMNS = ("effect", "se", "statistic", "p", "n", "status")


def is_binary(phenotype: np.ndarray) -> bool:
    """True when every non-missing value is 0 or 1 (and both occur)."""
    values = np.unique(phenotype[np.isfinite(phenotype)])
    return values.size == 2 and set(values.tolist()) == {0.0, 1.0}


def associate_genes(
    phenotype: np.ndarray,
    predicted: np.ndarray,
    *,
    covariates: np.ndarray | None = None,
    binary: bool = False,
) -> pd.DataFrame:
    """One row per gene of ``predicted`` (g, n): the phenotype (n,) regressed on the gene's
    standardised predicted expression plus an intercept and ``covariates`` (n, k). Individuals
    with a missing phenotype are left out. Columns :data:`ASSOCIATION_COLUMNS`; ``effect`` is per
    SD of predicted expression (log odds ratio when ``binary``)."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    y = np.asarray(phenotype, dtype=np.float64)
    keep = np.isfinite(y)
    base = np.ones((int(keep.sum()), 1))
    if covariates is not None and np.asarray(covariates).size:
        base = np.column_stack([base, np.asarray(covariates, np.float64)[keep]])
    y = y[keep]
    rows = []
    for values in np.asarray(predicted, dtype=np.float64)[:, keep]:
        sd = values.std()
        if not np.isfinite(sd) or sd <= 1e-12 * max(1.0, abs(values.mean())):
            rows.append(
                dict.fromkeys(ASSOCIATION_COLUMNS[:4], np.nan)
                | {"n": y.size}
                | {"status": "constant_prediction"}
            )
            continue
        design = np.column_stack([base, (values - values.mean()) / sd])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", PerfectSeparationWarning)
                if binary:
                    fit = sm.Logit(y, design).fit(disp=0, maxiter=100)
                else:
                    fit = sm.OLS(y, design).fit()
        except (np.linalg.LinAlgError, PerfectSeparationWarning, ValueError) as error:
            rows.append(
                dict.fromkeys(ASSOCIATION_COLUMNS[:4], np.nan)
                | {"n": y.size}
                | {"status": f"failed: {type(error).__name__}"}
            )
            continue
        rows.append(
            {
                "effect": float(fit.params[-1]),
                "se": float(fit.bse[-1]),
                "statistic": float(fit.tvalues[-1]),
                "p": float(fit.pvalues[-1]),
                "n": int(y.size),
                "status": "ok",
            }
        )
    return pd.DataFrame(rows, columns=list(ASSOCIATION_COLUMNS))


def fdr(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN stays NaN."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = stats.false_discovery_control(p[ok])
    return q


def marginal_z(phenotype: np.ndarray, dosages: np.ndarray) -> np.ndarray:
    """GWAS z-scores (v,): the t statistic of each variant's simple linear regression of the
    phenotype (n,) on its dosage (n, v) — summary statistics as a GWAS reports them."""
    y = np.asarray(phenotype, np.float64)
    x = np.asarray(dosages, np.float64)
    n = y.size
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc.T @ yc) / np.sqrt((xc**2).sum(axis=0) * (yc**2).sum())
        return r * np.sqrt((n - 2) / (1.0 - r**2))


def spredixcan_z(weights: np.ndarray, covariance: np.ndarray, gwas_z: np.ndarray) -> float:
    """S-PrediXcan z of one gene: z_g = Σ_j w_j σ_j z_j / σ_g with σ_j² = Σ_jj and
    σ_g² = wᵀ Σ w; ``weights`` (k,), ``covariance`` (k, k) of the model SNPs, ``gwas_z`` (k,)."""
    w = np.asarray(weights, np.float64)
    cov = np.asarray(covariance, np.float64)
    sigma_j = np.sqrt(np.diag(cov))
    sigma_g = float(np.sqrt(w @ cov @ w))
    if sigma_g == 0:
        return float("nan")
    return float(np.sum(w * sigma_j * np.asarray(gwas_z, np.float64)) / sigma_g)
