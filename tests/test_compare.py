"""Comparison tables from a long R² table: pairing, left-out genes, repeats, multiplicity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from twasnet.compare import compare_models, pair_genes, run_pairs, wide_table
from twasnet.report import comparison_markdown, comparison_notes
from twasnet.stats import holm


def long_table(values: dict[str, list[float]], *, splits: int = 1, status=None) -> pd.DataFrame:
    """r2.tsv-like rows: ``values[model][gene * splits + split]``."""
    rows = []
    for model, column in values.items():
        for i, value in enumerate(column):
            gene, split = divmod(i, splits)
            st, reason = (status or {}).get((model, gene, split), ("ok", ""))
            rows.append(
                {
                    "gene_id": f"G{gene:02d}",
                    "model": model,
                    "split": split,
                    "status": st,
                    "reason": reason,
                    "r2_pearson": np.nan if st != "ok" else value,
                }
            )
    return pd.DataFrame(rows)


def test_pairs_are_filtered_to_models_that_ran():
    pairs = [["cnn", "enet"], ["enet_annot", "enet"], ["cnn_annot", "cnn"]]
    assert run_pairs(pairs, ["enet", "enet_annot"]) == [("enet_annot", "enet")]


def test_genes_without_a_valid_result_are_left_out_and_listed():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 0.5, 10), rng.uniform(0, 0.5, 10)
    status = {("enet", 3, 0): ("skipped", "no_variants")}
    r2 = long_table({"enet": list(b), "cnn": list(a)}, status=status)
    r2 = r2[~((r2["model"] == "cnn") & (r2["gene_id"] == "G07"))]  # no record at all
    genes, dropped = pair_genes(r2, "cnn", "enet", metric="r2_pearson")
    assert sorted(dropped["gene_id"]) == ["G03", "G07"]
    row = dropped.set_index("gene_id")
    assert (row.loc["G03", "status_b"], row.loc["G03", "reason_b"]) == ("skipped", "no_variants")
    assert row.loc["G07", "status_a"] == "missing"
    assert len(genes) == 8 and "G03" not in set(genes["gene_id"])
    comparison, _, _ = compare_models(
        r2, pairs=[("cnn", "enet")], alternative="two-sided", alpha=0.05, n_bootstrap=200, seed=1
    )
    assert comparison.loc[0, "n_genes"] == 8 and comparison.loc[0, "n_dropped"] == 2
    keep = [i for i in range(10) if i not in (3, 7)]
    assert comparison.loc[0, "wilcoxon_p"] == pytest.approx(
        stats.wilcoxon(a[keep] - b[keep], zero_method="pratt").pvalue
    )
    notes = comparison_notes(
        metric="r2_pearson", alternative="two-sided", alpha=0.05, n_bootstrap=200, skipped=[]
    )
    text = comparison_markdown(comparison, dropped, notes=notes)
    assert "cnn vs enet" in text and "G03" in text and "no_variants" in text


def test_repeats_are_averaged_per_gene_and_their_spread_reported():
    # 6 genes x 3 splits; A is B + 0.1 on every split but split 2 adds noise to A
    rng = np.random.default_rng(4)
    b = rng.uniform(0, 0.4, 18)
    a = b + 0.1 + np.where(np.arange(18) % 3 == 2, rng.normal(0, 0.05, 18), 0)
    r2 = long_table({"enet": list(b), "cnn": list(a)}, splits=3)
    comparison, genes, _ = compare_models(
        r2, pairs=[("cnn", "enet")], alternative="greater", alpha=0.05, n_bootstrap=200, seed=1
    )
    np.testing.assert_allclose(genes["r2_a"], a.reshape(6, 3).mean(axis=1))
    np.testing.assert_allclose(genes["delta_sd"], (a - b).reshape(6, 3).std(axis=1, ddof=1))
    row = comparison.iloc[0]
    assert row["n_repeats"] == 3 and row["n_genes"] == 6
    per_split = (a - b).reshape(6, 3).mean(axis=0)
    assert row["repeat_mean_delta_min"] == pytest.approx(per_split.min())
    assert row["repeat_mean_delta_max"] == pytest.approx(per_split.max())
    assert row["wilcoxon_method"] == "exact" and row["wilcoxon_p"] == pytest.approx(1 / 64)
    wide = wide_table(r2, models=["enet", "cnn"], metric="r2_pearson")
    assert list(wide.columns) == ["gene_id", "r2_enet", "r2_cnn", "sd_enet", "sd_cnn"] + [
        "n_enet",
        "n_cnn",
    ]
    np.testing.assert_allclose(wide["r2_cnn"], genes["r2_a"])


def test_holm_and_bh_are_across_the_pairs_of_one_run():
    rng = np.random.default_rng(9)
    base = rng.uniform(0, 0.4, 20)
    r2 = long_table(
        {
            "enet": list(base),
            "enet_annot": list(base + rng.normal(0.02, 0.01, 20)),
            "cnn": list(base + rng.normal(0, 0.05, 20)),
        }
    )
    pairs = [("enet_annot", "enet"), ("cnn", "enet"), ("cnn", "enet_annot")]
    comparison, _, _ = compare_models(
        r2, pairs=pairs, alternative="two-sided", alpha=0.05, n_bootstrap=200, seed=3
    )
    np.testing.assert_allclose(comparison["t_p_holm"], holm(comparison["t_p"].to_numpy()))
    np.testing.assert_allclose(
        comparison["wilcoxon_p_bh"], stats.false_discovery_control(comparison["wilcoxon_p"])
    )
    assert comparison.loc[0, "significant_holm"]  # enet_annot is better on every gene
    assert comparison.loc[0, "mean_delta_ci_low"] > 0
    again, _, _ = compare_models(
        r2, pairs=pairs[::-1], alternative="two-sided", alpha=0.05, n_bootstrap=200, seed=3
    )
    # a pair's bootstrap interval depends on the seed and the pair, not on its position
    assert again.iloc[2]["mean_delta_ci_low"] == comparison.iloc[0]["mean_delta_ci_low"]
