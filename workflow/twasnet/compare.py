"""Model-versus-model comparison tables built from the long R² table (``results/tables/r2.tsv``).

A gene enters the comparison of models A and B when both have a valid result (status ``ok`` and a
finite R²) on at least one split; with several splits (repeats), its R² for each model is the mean
over the splits where both are valid, and the spread across those splits is reported. Tests and
intervals are those of :mod:`twasnet.stats`, applied to the per-gene values.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from twasnet.stats import (
    TEST_NAMES,
    benjamini_hochberg,
    bootstrap_ci,
    holm,
    paired_tests,
    per_gene_bootstrap,
)

GENE_COLUMNS = ["model_a", "model_b", "gene_id", "r2_a", "r2_b", "delta", "n_repeats", "delta_sd"]
DROPPED_COLUMNS = ["model_a", "model_b", "gene_id", "split"]
DROPPED_COLUMNS += ["status_a", "reason_a", "status_b", "reason_b"]
PER_GENE_COLUMNS = ["model_a", "model_b", "gene_id", "split", "n_test", "delta"]
PER_GENE_COLUMNS += ["ci_low", "ci_high", "p", "p_bh", "significant"]


def run_pairs(pairs: Sequence[Sequence[str]], models: Sequence[str]) -> list[tuple[str, str]]:
    """The configured (A, B) pairs whose two models are both among ``models``, in config order."""
    return [(str(a), str(b)) for a, b in pairs if a in models and b in models and a != b]


def pair_seed(seed: int, model_a: str, model_b: str) -> np.random.Generator:
    """A Generator for one pair, fixed by the run seed and the pair's names (not its position)."""
    return np.random.default_rng([seed, zlib.crc32(f"{model_a}|{model_b}".encode())])


def _valid(rows: pd.DataFrame, metric: str) -> pd.Series:
    return rows["status"].eq("ok") & np.isfinite(rows[metric].astype(float))


def wide_table(r2: pd.DataFrame, *, models: Sequence[str], metric: str) -> pd.DataFrame:
    """One row per gene: ``r2_<model>``, the mean of ``metric`` over the splits where the model's
    result is valid (NaN if none); with several splits also ``sd_<model>`` and ``n_<model>``."""
    ok = r2[_valid(r2, metric)]
    grouped = ok.groupby(["gene_id", "model"])[metric]
    stats = pd.DataFrame({"r2": grouped.mean(), "sd": grouped.std(ddof=1), "n": grouped.size()})
    genes = sorted(r2["gene_id"].astype(str).unique())
    out = pd.DataFrame({"gene_id": pd.Series(genes, dtype=object)})  # str even with no genes
    several = r2.groupby(["gene_id", "model"]).size().max() > 1 if len(r2) else False
    for kind in ("r2", "sd", "n") if several else ("r2",):
        table = stats[kind].unstack("model").reindex(index=genes, columns=list(models))
        table.columns = [f"{kind}_{m}" for m in table.columns]
        out = out.join(table, on="gene_id")
    return out


def pair_genes(
    r2: pd.DataFrame, model_a: str, model_b: str, *, metric: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-gene paired values of one pair (columns :data:`GENE_COLUMNS`) and the (gene, split)
    rows left out because one side has no valid result (:data:`DROPPED_COLUMNS`)."""
    keys = ["gene_id", "split"]
    cols = [*keys, "status", "reason", metric]
    sides = [
        r2.loc[r2["model"] == m, cols].assign(valid=lambda t: _valid(t, metric))
        for m in (model_a, model_b)
    ]
    merged = sides[0].merge(sides[1], on=keys, how="outer", suffixes=("_a", "_b"))
    both = merged["valid_a"].eq(True) & merged["valid_b"].eq(True)
    used = merged[both].assign(delta=lambda t: t[f"{metric}_a"] - t[f"{metric}_b"])
    grouped = used.groupby("gene_id")
    genes = pd.DataFrame(
        {
            "r2_a": grouped[f"{metric}_a"].mean(),
            "r2_b": grouped[f"{metric}_b"].mean(),
            "n_repeats": grouped.size(),
            "delta_sd": grouped["delta"].std(ddof=1),
        }
    ).reset_index()
    genes["delta"] = genes["r2_a"] - genes["r2_b"]
    genes = genes.assign(model_a=model_a, model_b=model_b)[GENE_COLUMNS]
    dropped = merged[~both].copy()
    for side in ("a", "b"):
        dropped[f"status_{side}"] = dropped[f"status_{side}"].fillna("missing")
        dropped[f"reason_{side}"] = dropped[f"reason_{side}"].fillna("")
    dropped = dropped.assign(model_a=model_a, model_b=model_b)[DROPPED_COLUMNS]
    return (
        genes.sort_values("gene_id", kind="stable").reset_index(drop=True),
        dropped.sort_values(keys, kind="stable").reset_index(drop=True),
    )


def summarise_pair(
    genes: pd.DataFrame,
    *,
    alternative: str,
    n_bootstrap: int,
    rng: np.random.Generator,
    per_split_delta: pd.Series | None = None,
) -> dict:
    """Effect sizes, bootstrap intervals and paired tests for one pair's per-gene values."""
    a, b = genes["r2_a"].to_numpy(float), genes["r2_b"].to_numpy(float)
    d = a - b
    row = {
        "n_genes": int(d.size),
        "mean_r2_a": float(a.mean()) if d.size else np.nan,
        "mean_r2_b": float(b.mean()) if d.size else np.nan,
        "mean_delta": float(d.mean()) if d.size else np.nan,
        "median_delta": float(np.median(d)) if d.size else np.nan,
        "pct_improved": float(100 * (d > 0).mean()) if d.size else np.nan,
    }
    for name in ("mean", "median"):
        low, high = bootstrap_ci(d, statistic=name, n_bootstrap=n_bootstrap, rng=rng)
        row |= {f"{name}_delta_ci_low": low, f"{name}_delta_ci_high": high}
    row |= paired_tests(a, b, alternative=alternative)
    row["n_repeats"] = int(genes["n_repeats"].max()) if d.size else 0
    row["delta_sd_repeats_median"] = float(genes["delta_sd"].median()) if d.size else np.nan
    spread = per_split_delta if per_split_delta is not None and len(per_split_delta) else None
    row["repeat_mean_delta_min"] = float(spread.min()) if spread is not None else np.nan
    row["repeat_mean_delta_max"] = float(spread.max()) if spread is not None else np.nan
    return row


def compare_models(
    r2: pd.DataFrame,
    *,
    pairs: Sequence[tuple[str, str]],
    alternative: str,
    alpha: float,
    n_bootstrap: int,
    seed: int,
    metric: str = "r2_pearson",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Compare every pair of models across genes.

    ``r2`` is the long table (gene_id, model, split, status, reason, ``metric``). Returns
    ``(comparison, genes, dropped)``: one row per pair with effect sizes, 95% bootstrap intervals,
    the three paired tests and their Holm and Benjamini–Hochberg adjustments across the pairs;
    the per-gene paired values; the (gene, split) rows each pair left out, with their statuses.
    """
    rows, gene_frames, dropped_frames = [], [], []
    for model_a, model_b in pairs:
        genes, dropped = pair_genes(r2, model_a, model_b, metric=metric)
        per_split = _per_split_mean_delta(r2, model_a, model_b, metric=metric)
        row = {"model_a": model_a, "model_b": model_b, "metric": metric}
        row |= {"alternative": alternative, "n_dropped": int(dropped["gene_id"].nunique())}
        row |= summarise_pair(
            genes,
            alternative=alternative,
            n_bootstrap=n_bootstrap,
            rng=pair_seed(seed, model_a, model_b),
            per_split_delta=per_split,
        )
        rows.append(row)
        gene_frames.append(genes)
        dropped_frames.append(dropped)
    comparison = pd.DataFrame(rows, columns=_comparison_columns())
    for test in TEST_NAMES:
        p = comparison[f"{test}_p"].to_numpy(float)
        comparison[f"{test}_p_holm"] = holm(p)
        comparison[f"{test}_p_bh"] = benjamini_hochberg(p)
    comparison["significant_holm"] = comparison["wilcoxon_p_holm"].lt(alpha)
    comparison["significant_bh"] = comparison["wilcoxon_p_bh"].lt(alpha)
    genes = pd.concat(gene_frames, ignore_index=True) if gene_frames else _empty(GENE_COLUMNS)
    dropped = (
        pd.concat(dropped_frames, ignore_index=True) if dropped_frames else _empty(DROPPED_COLUMNS)
    )
    return comparison, genes, dropped


def _comparison_columns() -> list[str]:
    return [
        "model_a",
        "model_b",
        "metric",
        "alternative",
        "n_genes",
        "n_dropped",
        "mean_r2_a",
        "mean_r2_b",
        "mean_delta",
        "mean_delta_ci_low",
        "mean_delta_ci_high",
        "median_delta",
        "median_delta_ci_low",
        "median_delta_ci_high",
        "pct_improved",
        "wilcoxon_stat",
        "wilcoxon_p",
        "wilcoxon_method",
        "t_stat",
        "t_p",
        "sign_n_better",
        "sign_n_worse",
        "sign_p",
        "n_repeats",
        "delta_sd_repeats_median",
        "repeat_mean_delta_min",
        "repeat_mean_delta_max",
    ]


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def _per_split_mean_delta(r2: pd.DataFrame, model_a: str, model_b: str, *, metric: str):
    """Mean ΔR² over the genes valid for both models, for each split (the across-repeat spread)."""
    cols = ["gene_id", "split", metric]
    ok = r2[_valid(r2, metric)]
    merged = ok.loc[ok["model"] == model_a, cols].merge(
        ok.loc[ok["model"] == model_b, cols], on=["gene_id", "split"], suffixes=("_a", "_b")
    )
    delta = merged[f"{metric}_a"] - merged[f"{metric}_b"]
    return delta.groupby(merged["split"]).mean()


def per_gene_comparison(
    predictions: dict[tuple[str, str, int], pd.DataFrame],
    *,
    pairs: Sequence[tuple[str, str]],
    alpha: float,
    n_bootstrap: int,
    seed: int,
) -> pd.DataFrame:
    """For every pair, gene and split where both models predicted the held-out individuals: the
    paired bootstrap over individuals of ΔR² (:func:`twasnet.stats.per_gene_bootstrap`), with
    Benjamini–Hochberg across the genes of each pair.

    ``predictions`` maps (model, gene_id, split) to a table with ``sample``, ``observed`` and
    ``predicted`` (the held-out predictions a fit stored; predicted is NaN when skipped).
    """
    rows = []
    keys = sorted({(g, s) for _, g, s in predictions})
    for model_a, model_b in pairs:
        rng = pair_seed(seed, model_a, model_b)
        found = []
        for gene_id, split in keys:
            a = predictions.get((model_a, gene_id, split))
            b = predictions.get((model_b, gene_id, split))
            if a is None or b is None or a["predicted"].isna().any() or b["predicted"].isna().any():
                continue
            if list(a["sample"]) != list(b["sample"]):
                raise ValueError(
                    f"{gene_id} split {split}: {model_a} and {model_b} were scored on "
                    "different individuals; rerun both fits from the same split.tsv"
                )
            res = per_gene_bootstrap(
                a["observed"].to_numpy(float),
                a["predicted"].to_numpy(float),
                b["predicted"].to_numpy(float),
                n_bootstrap=n_bootstrap,
                rng=rng,
            )
            found.append(
                {
                    "model_a": model_a,
                    "model_b": model_b,
                    "gene_id": gene_id,
                    "split": split,
                    "n_test": len(a),
                }
                | res
            )
        frame = pd.DataFrame(
            found, columns=[c for c in PER_GENE_COLUMNS if c not in ("p_bh", "significant")]
        )
        frame["p_bh"] = benjamini_hochberg(frame["p"].to_numpy(float))
        frame["significant"] = frame["p_bh"].lt(alpha)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True) if rows else _empty(PER_GENE_COLUMNS)
