"""Capability table from a finished workflow run on a simulated scenario cohort.

Reads ``<run>/results/tables/r2.tsv`` (per-gene R² averaged over splits) and the simulation's
``truth_genes.tsv`` and prints, over the selected genes: median held-out R² per model; on linear
genes (simulated h²_nonlinear = 0) the ratio of medians cnn / enet; on genes with simulated
h²_nonlinear >= 0.1 the fraction where cnn beats enet and the median gain, overall and by the
gene's simulated effect kinds (dominance, epistasis); cnn against its control enet_features;
cnn_annot against cnn and enet_annot. The paired tests with Holm adjustment are in the run's
``results/tables/comparison.md``.

Run a scenario first (``make scenarios`` does both), then e.g.
``.venv/bin/python benchmarks/capability.py --run results-scenarios/nonlinear``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

TRUTH_COLUMNS = ("h2_linear", "h2_nonlinear", "effect_kinds")


def capability(r2: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per statistic (columns: statistic, value, n_genes) from the long R² table."""
    ok = r2[r2["status"] == "ok"]
    wide = ok.groupby(["gene_id", "model"])["r2_pearson"].mean().unstack("model")
    wide = wide.join(truth.set_index("gene_id")[list(TRUTH_COLUMNS)], how="left")
    rows = [(f"median R² {m}", wide[m].median(), int(wide[m].notna().sum())) for m in _models(wide)]

    def pair(a: str, b: str, genes: pd.Series, label: str) -> None:
        if a not in wide or b not in wide:
            return
        both = wide.loc[genes, [a, b]].dropna()
        if both.empty:
            return
        diff = both[a] - both[b]
        rows.append(
            (f"{label}: median {a} / median {b}", both[a].median() / both[b].median(), len(both))
        )
        rows.append((f"{label}: fraction {a} > {b}", float((diff > 0).mean()), len(both)))
        rows.append((f"{label}: median R² gain {a} - {b}", float(diff.median()), len(both)))

    linear = wide["h2_nonlinear"] == 0
    nonlinear = wide["h2_nonlinear"] >= 0.1
    pair("cnn", "enet", wide.index[linear], "linear genes")
    pair("cnn", "enet", wide.index[nonlinear], "h2_nonlinear >= 0.1")
    for kinds, genes in wide[nonlinear].groupby("effect_kinds").groups.items():
        pair("cnn", "enet", genes, f"h2_nonlinear >= 0.1, {kinds}")
    pair("cnn", "enet_features", wide.index, "all genes")
    pair("cnn", "enet_features", wide.index[nonlinear], "h2_nonlinear >= 0.1")
    pair("enet_features", "enet", wide.index[linear], "linear genes")
    pair("cnn_annot", "cnn", wide.index, "all genes")
    pair("cnn_annot", "cnn", wide.index[nonlinear], "h2_nonlinear >= 0.1")
    pair("enet_annot", "enet", wide.index, "all genes")
    pair("cnn_annot", "enet_annot", wide.index, "all genes")
    return pd.DataFrame(rows, columns=["statistic", "value", "n_genes"])


def _models(wide: pd.DataFrame) -> list[str]:
    return [c for c in wide.columns if c not in TRUTH_COLUMNS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", required=True, help="workflow directory (has results/, data/)")
    parser.add_argument("--truth", help="truth_genes.tsv (default: <run>/data/truth_genes.tsv)")
    args = parser.parse_args()
    run = Path(args.run)
    r2 = pd.read_csv(run / "results/tables/r2.tsv", sep="\t")
    truth = pd.read_csv(args.truth or run / "data/truth_genes.tsv", sep="\t")
    table = capability(r2, truth)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
