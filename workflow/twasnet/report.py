"""Readable renderings of the comparison (Markdown and HTML) and the run's setup summary.

Pure functions from tables to text; writing the text is the caller's job.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd

PAGE_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;max-width:80em}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #bbb;padding:0.25em 0.6em;text-align:left}th{background:#eee}"
)


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "NA"
    return f"{value:.{digits}f}"


def _p(value) -> str:
    if value is None or not np.isfinite(value):
        return "NA"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"


def comparison_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """The comparison table as strings for reading: one row per pair, the key columns."""
    rows = []
    for r in comparison.to_dict(orient="records"):
        rows.append(
            {
                "A vs B": f"{r['model_a']} vs {r['model_b']}",
                "genes": str(r["n_genes"]),
                "dropped": str(r["n_dropped"]),
                "mean R² A / B": f"{_num(r['mean_r2_a'])} / {_num(r['mean_r2_b'])}",
                "mean ΔR² [95% CI]": f"{_num(r['mean_delta'], 4)} "
                f"[{_num(r['mean_delta_ci_low'], 4)}, {_num(r['mean_delta_ci_high'], 4)}]",
                "median ΔR² [95% CI]": f"{_num(r['median_delta'], 4)} "
                f"[{_num(r['median_delta_ci_low'], 4)}, {_num(r['median_delta_ci_high'], 4)}]",
                "% A better": _num(r["pct_improved"], 1),
                "Wilcoxon p (Holm; BH)": f"{_p(r['wilcoxon_p'])} "
                f"({_p(r['wilcoxon_p_holm'])}; {_p(r['wilcoxon_p_bh'])})",
                "t p (Holm)": f"{_p(r['t_p'])} ({_p(r['t_p_holm'])})",
                "sign +/− p (Holm)": f"{r['sign_n_better']}/{r['sign_n_worse']} "
                f"{_p(r['sign_p'])} ({_p(r['sign_p_holm'])})",
                "significant (Holm)": "yes" if r["significant_holm"] else "no",
            }
        )
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["A vs B"])


def dropped_summary(dropped: pd.DataFrame) -> pd.DataFrame:
    """Per pair, how many (gene, split) rows were left out and why (model: status reason)."""
    if dropped.empty:
        return pd.DataFrame(columns=["A vs B", "why", "genes"])
    why = np.where(
        dropped["status_a"].ne("ok"),
        dropped["model_a"] + ": " + dropped["status_a"] + " " + dropped["reason_a"].astype(str),
        dropped["model_b"] + ": " + dropped["status_b"] + " " + dropped["reason_b"].astype(str),
    )
    frame = dropped.assign(pair=dropped["model_a"] + " vs " + dropped["model_b"], why=why)
    out = frame.groupby(["pair", "why"], sort=True)["gene_id"].agg(
        lambda g: ", ".join(sorted(set(g)))
    )
    return out.reset_index().rename(columns={"pair": "A vs B", "gene_id": "genes"})


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame``'s values as strings."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |" for row in frame.values]
    return "\n".join([header, rule, *body])


def comparison_notes(
    *, metric: str, alternative: str, alpha: float, n_bootstrap: int, skipped: Sequence[str]
) -> list[str]:
    """The sentences that say how to read the comparison table."""
    sides = {
        "two-sided": "two-sided (A differs from B)",
        "greater": "one-sided (A better than B)",
        "less": "one-sided (A worse than B)",
    }[alternative]
    notes = [
        f"Held-out accuracy: `{metric}`, per gene averaged over the split repeats where both "
        "models have a valid result. ΔR² = R²(A) − R²(B); genes are the unit of replication.",
        f"Tests are {sides}: Wilcoxon signed-rank (primary; zero differences by Pratt's method, "
        "exact for small counts), paired t, sign test. Holm and Benjamini–Hochberg adjust each "
        f"test across the pairs of this run; 'significant' is Holm-adjusted Wilcoxon p < {alpha}.",
        f"Intervals: percentile bootstrap over genes, {n_bootstrap} resamples, seeded.",
    ]
    if skipped:
        notes.append("Pairs not compared (a model is not in `models`): " + ", ".join(skipped) + ".")
    return notes


def comparison_markdown(
    comparison: pd.DataFrame, dropped: pd.DataFrame, *, notes: Sequence[str]
) -> str:
    """The readable ``comparison.md``: the table, how to read it, and the genes left out."""
    parts = ["# Model comparison", "", markdown_table(comparison_display(comparison)), ""]
    parts += [f"- {n}" for n in notes]
    parts += ["", "## Genes left out of a pair", ""]
    summary = dropped_summary(dropped)
    parts.append(markdown_table(summary) if len(summary) else "None: every gene was paired.")
    return "\n".join(parts) + "\n"


def html_page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A self-contained HTML page: ``sections`` are (heading, HTML body) pairs."""
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{b}\n" for h, b in sections)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n"
    )


def html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="NA", border=0, escape=True)


def html_list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def comparison_html(
    comparison: pd.DataFrame, dropped: pd.DataFrame, *, notes: Sequence[str]
) -> str:
    """The comparison as a standalone HTML page (shown in the Snakemake report)."""
    summary = dropped_summary(dropped)
    return html_page(
        "Model comparison",
        [
            ("Paired comparison across genes", html_table(comparison_display(comparison))),
            ("How to read it", html_list(notes)),
            (
                "Genes left out of a pair",
                html_table(summary) if len(summary) else "<p>None: every gene was paired.</p>",
            ),
        ],
    )


def setup_tables(
    *,
    cohort_counts: dict,
    split: pd.DataFrame,
    selection: pd.DataFrame,
    r2: pd.DataFrame,
    config: dict,
) -> list[tuple[str, pd.DataFrame]]:
    """The setup of a run as (title, table) pairs: cohort sizes, split, genes kept/dropped by
    reason, results per model and status, seeds, models and their hyper-parameter grids."""
    cohort = pd.DataFrame(
        {"source": list(cohort_counts), "individuals": [int(v) for v in cohort_counts.values()]}
    )
    sets = split.groupby(["repeat", "set"]).size().unstack("set", fill_value=0).reset_index()
    sets.columns.name = None
    genes = selection.assign(reason=selection["reason"].fillna("").astype(str))
    genes = genes.groupby(["split", "status"]).size().rename("genes").reset_index()
    results = r2.assign(reason=r2["reason"].fillna("").astype(str))
    results = results.groupby(["model", "split", "status", "reason"]).size().rename("genes")
    settings = [
        ("seed", config.get("seed")),
        ("cis window (bp either side of the TSS)", config.get("cis", {}).get("window_bp")),
        ("split", _describe(config.get("split", {}))),
        ("gene selection", _describe(config.get("select", {}))),
        ("comparison", _describe(config.get("compare", {}))),
    ]
    models = [(m, _describe(config.get(m, {}))) for m in config.get("models", [])]
    return [
        ("Cohort: individuals per source and in all of them", cohort),
        ("Split: individuals per repeat (train / held-out test)", sets),
        ("Genes kept (selected) or dropped, by reason", genes),
        ("Results per model and status", results.reset_index()),
        ("Seeds and settings", pd.DataFrame(settings, columns=["setting", "value"])),
        (
            "Models and hyper-parameters (grids as lists)",
            pd.DataFrame(models, columns=["model", "settings"]),
        ),
    ]


def provenance_tables(static: dict) -> list[tuple[str, pd.DataFrame]]:
    """The run's provenance (the run-independent part of ``provenance.json``) as (title, table)
    pairs: software and versions, the machine, the config hash and seeds, every input's SHA-256."""
    git = static.get("git") or {}
    software = [
        ("twasnet", static.get("twasnet_version")),
        ("git commit", git.get("commit")),
        ("uncommitted changes", git.get("dirty")),
        ("python", static.get("python")),
    ]
    software += [(name, version) for name, version in (static.get("packages") or {}).items()]
    device = static.get("device") or {}
    run = [
        ("config SHA-256", static.get("config_sha256")),
        *[(f"seed: {k}", v) for k, v in (static.get("seeds") or {}).items()],
        *[(f"device: {k}", v) for k, v in device.items()],
    ]
    inputs = pd.DataFrame(
        [
            {"file": path, "bytes": entry["bytes"], "sha256": entry["sha256"]}
            for path, entry in (static.get("inputs") or {}).items()
        ],
        columns=["file", "bytes", "sha256"],
    )

    def as_frame(rows):
        return pd.DataFrame(
            [(k, "" if v is None else str(v)) for k, v in rows], columns=["item", "value"]
        )

    return [
        ("Provenance: software and versions", as_frame(software)),
        ("Provenance: config hash, seeds and machine", as_frame(run)),
        ("Provenance: input files and their SHA-256", inputs),
    ]


def _describe(section) -> str:
    """A compact one-line rendering of a config section."""
    if not isinstance(section, dict):
        return str(section)
    return "; ".join(f"{k}={section[k]}" for k in sorted(section))
