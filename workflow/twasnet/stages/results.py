"""Result stages: the R² table of every fit, scores against a simulation's truth, the comparison
of models across genes and per gene, its figures, and the run's setup page."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from twasnet.io.store import atomic_output, fit_key, read_json, read_table, write_table
from twasnet.io.variants import canonical_chrom
from twasnet.metrics import importance_ranking
from twasnet.train import RECORD_FIELDS

log = logging.getLogger("twasnet")

# r2.tsv: everything of the record that is a number or a status, and nothing that varies between
# identical runs (fit time, device), so reruns of one config give byte-identical tables.
R2_COLUMNS = [
    f
    for f in RECORD_FIELDS
    if f not in ("hyperparameters", "seed", "fit_seconds", "device", "twasnet_version")
]


def aggregate(*, record_paths: Sequence[str], out_r2: str, out_times: str) -> None:
    """Collect result records into the long R² table (deterministic order and bytes) and a
    separate table of fit times (which vary between runs)."""
    records = [read_json(p) for p in record_paths]
    if not records:
        log.warning(
            "No gene has a fitted model: %s has no rows (no gene was selected; "
            "results/genes/selection.tsv gives each gene's reason).",
            out_r2,
        )
    frame = pd.DataFrame(
        records, columns=list(dict.fromkeys(R2_COLUMNS + ["fit_seconds", "device"]))
    )
    frame = frame.sort_values(["model", "split", "gene_id"], kind="stable")
    write_table(frame[R2_COLUMNS], out_r2)
    write_table(frame[["gene_id", "model", "split", "fit_seconds", "device"]], out_times)


def evaluate_against_truth(
    *,
    selection_path: str,
    r2_path: str,
    truth_genes_path: str,
    truth_variants_path: str | None,
    importance_paths: Sequence[str],
    out_genes: str,
    out_importance: str,
) -> None:
    """Score results against a simulation's truth: per gene, selection and held-out R² beside the
    true h² components; per gene × model × split, how well the model's |importance| ranks the
    gene's causal variants (AUROC and average precision)."""
    truth = pd.read_csv(truth_genes_path, sep="\t")
    selection = read_table(selection_path)
    r2 = read_table(r2_path)
    wide = r2.pivot_table(index=["gene_id", "split"], columns="model", values="r2_pearson")
    wide.columns = [f"r2_{c}" for c in wide.columns]
    table = selection.merge(
        truth[["gene_id", "h2_total", "h2_linear", "h2_nonlinear"]], on="gene_id", how="left"
    ).merge(wide.reset_index(), on=["gene_id", "split"], how="left")
    write_table(table, out_genes)
    columns = ["gene_id", "model", "split", "n_variants", "n_causal", "auroc", "average_precision"]
    rows = []
    if truth_variants_path:
        causal = pd.read_csv(truth_variants_path, sep="\t")
        causal = causal[causal["causal"] == 1].assign(
            chrom=lambda t: t["chrom"].astype(str).map(canonical_chrom)
        )
        for path in sorted(importance_paths):
            gene_id, model, split = fit_key(path)
            importance = read_table(path)
            if importance.empty:
                continue
            keys = causal.loc[causal["gene_id"] == gene_id, ["chrom", "pos", "ref", "alt"]]
            is_causal = (
                importance.assign(chrom=importance["chrom"].astype(str))
                .merge(keys.assign(hit=1), on=["chrom", "pos", "ref", "alt"], how="left")["hit"]
                .fillna(0)
            )
            rows.append(
                {"gene_id": gene_id, "model": model, "split": split}
                | importance_ranking(is_causal.to_numpy(), importance["importance"].to_numpy())
            )
    frame = pd.DataFrame(rows, columns=columns).sort_values(["model", "split", "gene_id"])
    write_table(frame, out_importance)


def compare(
    *,
    r2_path: str,
    pairs: Sequence[Sequence[str]],
    models: Sequence[str],
    metric: str,
    alternative: str,
    alpha: float,
    n_bootstrap: int,
    seed: int,
    out_comparison: str,
    out_markdown: str,
    out_html: str,
    out_genes: str,
    out_dropped: str,
    out_wide_tsv: str,
    out_wide_parquet: str,
) -> None:
    """Compare every configured pair of models across genes (see :mod:`twasnet.compare`) and write
    the comparison (TSV, Markdown, HTML), its per-gene values and left-out genes, and the wide
    gene × model R² table."""
    from twasnet.compare import compare_models, run_pairs, wide_table
    from twasnet.report import comparison_html, comparison_markdown, comparison_notes

    r2 = read_table(r2_path)
    r2["gene_id"] = r2["gene_id"].astype(str)
    r2["status"] = r2["status"].astype(object)  # read as float when r2.tsv has no rows
    chosen = run_pairs(pairs, models)
    skipped = [f"{a} vs {b}" for a, b in pairs if (str(a), str(b)) not in chosen]
    if skipped:
        log.info("pairs not compared (model not run): %s", ", ".join(skipped))
    comparison, genes, dropped = compare_models(
        r2,
        pairs=chosen,
        alternative=alternative,
        alpha=alpha,
        n_bootstrap=n_bootstrap,
        seed=seed,
        metric=metric,
    )
    for row in comparison.itertuples():
        log.info(
            "%s vs %s: %d genes, mean delta %.4f, Wilcoxon p %.3g (Holm %.3g)",
            row.model_a,
            row.model_b,
            row.n_genes,
            row.mean_delta,
            row.wilcoxon_p,
            row.wilcoxon_p_holm,
        )
    notes = comparison_notes(
        metric=metric,
        alternative=alternative,
        alpha=alpha,
        n_bootstrap=n_bootstrap,
        skipped=skipped,
    )
    if not r2["status"].eq("ok").any():
        empty = f"No gene has a valid held-out result in {r2_path} ({len(r2)} rows), so no pair is "
        empty += "compared and the comparison tables have no rows (see its status and reason "
        empty += "columns, and results/genes/selection.tsv for genes never trained)."
        log.warning(empty)
        notes.append(empty)
        comparison = comparison.iloc[0:0]
    wide = wide_table(r2, models=models, metric=metric)
    write_table(comparison, out_comparison)
    write_table(genes, out_genes)
    write_table(dropped, out_dropped)
    write_table(wide, out_wide_tsv)
    write_table(wide, out_wide_parquet)
    for text, path in (
        (comparison_markdown(comparison, dropped, notes=notes), out_markdown),
        (comparison_html(comparison, dropped, notes=notes), out_html),
    ):
        with atomic_output(path) as tmp:
            tmp.write_text(text)


def compare_per_gene(
    *,
    prediction_paths: Sequence[str],
    pairs: Sequence[Sequence[str]],
    models: Sequence[str],
    alpha: float,
    n_bootstrap: int,
    seed: int,
    out_path: str,
) -> None:
    """Per gene and pair: is the difference in held-out R² significant for this gene, by a paired
    bootstrap over held-out individuals of the stored predictions."""
    from twasnet.compare import per_gene_comparison, run_pairs

    predictions = {}
    for path in prediction_paths:
        gene_id, model, split = fit_key(path)
        predictions[(model, gene_id, split)] = read_table(path)
    table = per_gene_comparison(
        predictions, pairs=run_pairs(pairs, models), alpha=alpha, n_bootstrap=n_bootstrap, seed=seed
    )
    write_table(table, out_path)


def plot_comparison(
    *,
    genes_path: str,
    wide_path: str,
    selection_path: str,
    importance_paths: Sequence[str],
    truth_genes_path: str | None,
    truth_variants_path: str | None,
    pairs: Sequence[Sequence[str]],
    models: Sequence[str],
    top_genes: int,
    seed: int,
    out: dict[str, str],
) -> None:
    """Draw the comparison figures; ``out`` maps ``<figure>_png``/``<figure>_svg`` to paths for
    the figures ``pairs``, ``delta``, ``h2`` and ``importance``."""
    from twasnet.compare import run_pairs
    from twasnet.plots import (
        delta_figure,
        h2_figure,
        importance_figure,
        pair_scatter_figure,
        save_figure,
    )

    chosen = run_pairs(pairs, models)
    genes = read_table(genes_path)
    wide = read_table(wide_path)
    selection = read_table(selection_path)
    estimated = selection.groupby(selection["gene_id"].astype(str))["h2"].mean()
    simulated = causal = None
    if truth_genes_path:
        truth = pd.read_csv(truth_genes_path, sep="\t")
        simulated = truth.set_index(truth["gene_id"].astype(str))["h2_total"]
    if truth_variants_path:
        variants = pd.read_csv(truth_variants_path, sep="\t")
        variants = variants[variants["causal"] == 1]
        causal = {str(g): t["pos"].to_numpy() for g, t in variants.groupby("gene_id")}
    shown = top_gene_ids(wide, models=models, per_model=top_genes)
    tracks = {}
    for path in importance_paths:
        gene_id, model, split = fit_key(path)
        if gene_id in shown and split == min(selection["split"]):
            tracks[(gene_id, model)] = read_table(path)
    tss = selection.drop_duplicates("gene_id").set_index("gene_id")["tss"].to_dict()
    figures = {
        "pairs": pair_scatter_figure(genes, chosen),
        "delta": delta_figure(genes, chosen, seed=seed),
        "h2": h2_figure(wide, models=models, estimated=estimated, simulated=simulated),
        "importance": importance_figure(tracks, genes=shown, models=models, tss=tss, causal=causal),
    }
    for name, fig in figures.items():
        save_figure(fig, png=out[f"{name}_png"], svg=out[f"{name}_svg"])


def top_gene_ids(wide: pd.DataFrame, *, models: Sequence[str], per_model: int) -> list[str]:
    """The ``per_model`` genes of highest held-out R² for each model, in model order, no repeats."""
    shown: list[str] = []
    for model in models:
        column = wide[["gene_id", f"r2_{model}"]].dropna()
        top = column.sort_values([f"r2_{model}", "gene_id"], ascending=[False, True], kind="stable")
        for gene_id in top["gene_id"].astype(str).head(per_model):
            if gene_id not in shown:
                shown.append(gene_id)
    return shown


def summarise_setup(
    *,
    cohort_summary_path: str,
    split_path: str,
    selection_path: str,
    r2_path: str,
    provenance_path: str,
    config: dict,
    out_html: str,
) -> None:
    """Write the run's setup (cohort sizes, split, genes kept/dropped, models, grids, seeds) and
    its provenance (versions, commit, machine, input checksums) as an HTML page for the report."""
    from twasnet.report import html_page, html_table, provenance_tables, setup_tables

    tables = setup_tables(
        cohort_counts=read_json(cohort_summary_path)["counts"],
        split=read_table(split_path),
        selection=read_table(selection_path),
        r2=read_table(r2_path),
        config=config,
    )
    tables += provenance_tables(read_json(provenance_path))
    page = html_page("Setup of this run", [(t, html_table(f)) for t, f in tables])
    with atomic_output(out_html) as tmp:
        tmp.write_text(page)
