"""Figures of a comparison (matplotlib, Agg backend), saved as PNG and SVG with stable bytes.

Each ``*_figure`` function takes tables and returns a ``Figure``; :func:`save_figure` writes it.
Reruns give identical files: no timestamps in the metadata, a fixed SVG hash salt, and the only
randomness (jitter) drawn from a fixed seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from twasnet.io.store import atomic_output  # noqa: E402

STYLE = {"svg.hashsalt": "twasnet", "svg.fonttype": "path", "figure.dpi": 100, "font.size": 9}
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}


def _grid(n: int, *, width: float = 3.2, height: float = 3.0, max_cols: int = 3):
    cols = max(1, min(n, max_cols))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _empty(message: str) -> Figure:
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def pair_scatter_figure(genes: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> Figure:
    """Per pair, R² of model A (y) against model B (x) per gene, with the diagonal y = x.

    ``genes`` holds model_a, model_b, r2_a, r2_b (one row per pair and paired gene)."""
    with plt.rc_context(STYLE):
        if not pairs:
            return _empty("no model pairs to compare")
        fig, axes = _grid(len(pairs))
        top = max(float(np.nanmax(genes[["r2_a", "r2_b"]].to_numpy())), 0.05) if len(genes) else 1
        for ax, (a, b) in zip(axes, pairs, strict=False):
            rows = genes[(genes["model_a"] == a) & (genes["model_b"] == b)]
            ax.plot([0, top * 1.05], [0, top * 1.05], color="grey", lw=1, ls="--")
            ax.scatter(rows["r2_b"], rows["r2_a"], s=14, alpha=0.7, color="tab:blue")
            better = int((rows["r2_a"] > rows["r2_b"]).sum())
            ax.set_title(f"{a} vs {b}: {better}/{len(rows)} genes above", fontsize=9)
            ax.set_xlabel(f"held-out R², {b}")
            ax.set_ylabel(f"held-out R², {a}")
            ax.set_xlim(0, top * 1.05)
            ax.set_ylim(0, top * 1.05)
            ax.set_aspect("equal")
        fig.tight_layout()
        return fig


def delta_figure(genes: pd.DataFrame, pairs: Sequence[tuple[str, str]], *, seed: int = 0) -> Figure:
    """Distribution of ΔR² = R²(A) − R²(B) across genes per pair: box plot with the genes as
    (deterministically jittered) points, and a line at zero."""
    with plt.rc_context(STYLE):
        if not pairs:
            return _empty("no model pairs to compare")
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(pairs) + 1.2))
        rng = np.random.default_rng(seed)
        values = []
        for a, b in pairs:
            rows = genes[(genes["model_a"] == a) & (genes["model_b"] == b)]
            values.append(rows["delta"].to_numpy(float))
        positions = np.arange(len(pairs))[::-1]
        ax.boxplot(
            [v if v.size else np.array([np.nan]) for v in values],
            positions=positions,
            orientation="horizontal",
            widths=0.5,
            showfliers=False,
        )
        for pos, v in zip(positions, values, strict=True):
            ax.scatter(
                v,
                pos + rng.uniform(-0.15, 0.15, v.size),
                s=10,
                alpha=0.6,
                color="tab:blue",
                zorder=3,
            )
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.set_yticks(positions, [f"{a} − {b}" for a, b in pairs])
        ax.set_xlabel("ΔR² per gene (held-out, A − B)")
        fig.tight_layout()
        return fig


def h2_figure(
    wide: pd.DataFrame,
    *,
    models: Sequence[str],
    estimated: pd.Series,
    simulated: pd.Series | None = None,
) -> Figure:
    """Held-out R² of each model against cis-h² per gene: REML estimates on training individuals
    (top row) and, for simulated cohorts, the true h² (bottom row).

    ``wide`` has gene_id and ``r2_<model>``; ``estimated``/``simulated`` are h² indexed by gene_id.
    """
    with plt.rc_context(STYLE):
        rows = [("REML cis-h² (training individuals)", estimated)]
        if simulated is not None:
            rows.append(("simulated h² (truth)", simulated))
        fig, axes = plt.subplots(
            len(rows), len(models), figsize=(2.8 * len(models), 2.8 * len(rows)), squeeze=False
        )
        for i, (label, h2) in enumerate(rows):
            x_all = h2.reindex(wide["gene_id"]).to_numpy(float)
            for j, model in enumerate(models):
                ax = axes[i, j]
                y = wide[f"r2_{model}"].to_numpy(float)
                lim = max(np.nanmax(np.r_[x_all, y, 0.05]), 0.05) * 1.05
                ax.plot([0, lim], [0, lim], color="grey", lw=1, ls="--")
                ax.scatter(x_all, y, s=12, alpha=0.7)
                ax.set_xlim(0, lim)
                ax.set_ylim(0, lim)
                ax.set_title(model, fontsize=9)
                ax.set_xlabel(label, fontsize=8)
                if j == 0:
                    ax.set_ylabel("held-out R²")
        fig.tight_layout()
        return fig


def importance_figure(
    tracks: dict[tuple[str, str], pd.DataFrame],
    *,
    genes: Sequence[str],
    models: Sequence[str],
    tss: dict[str, int],
    causal: dict[str, np.ndarray] | None = None,
) -> Figure:
    """Per-variant |importance| along the cis window, one row per gene and one column per model.

    ``tracks[(gene, model)]`` has ``pos`` and ``importance``; x is position − TSS in kb; causal
    variants (``causal[gene]``: positions) are marked by red ticks when the truth is known.
    """
    with plt.rc_context(STYLE):
        if not genes or not models:
            return _empty("no fitted genes to show")
        fig, axes = plt.subplots(
            len(genes),
            len(models),
            figsize=(2.6 * len(models), 1.7 * len(genes)),
            squeeze=False,
            sharex="row",
        )
        for i, gene in enumerate(genes):
            for j, model in enumerate(models):
                ax = axes[i, j]
                track = tracks.get((gene, model))
                if track is not None and len(track):
                    x = (track["pos"].to_numpy(float) - tss[gene]) / 1e3
                    y = np.abs(track["importance"].to_numpy(float))
                    ax.vlines(x, 0, y, color="tab:blue", lw=0.8)
                    # an all-zero track (no variant selected) stays flat instead of showing 1e-17
                    ax.set_ylim(0, max(float(y.max()), 1e-6) * 1.1)
                if causal is not None:
                    for pos in causal.get(gene, []):
                        ax.axvline((pos - tss[gene]) / 1e3, color="tab:red", lw=0.8, alpha=0.6)
                if i == 0:
                    ax.set_title(model, fontsize=9)
                if j == 0:
                    ax.set_ylabel(f"{gene}\n|importance|", fontsize=7)
                if i == len(genes) - 1:
                    ax.set_xlabel("position − TSS (kb)")
                ax.tick_params(labelsize=7)
        if causal is not None:
            fig.suptitle("red: causal variants of the simulation", fontsize=8, color="tab:red")
        fig.tight_layout()
        return fig


def save_figure(fig: Figure, *, png: str | Path, svg: str | Path) -> None:
    """Write ``fig`` atomically as PNG and SVG without timestamps, then close it."""
    with plt.rc_context(STYLE):
        with atomic_output(png) as tmp:
            fig.savefig(tmp, format="png", metadata=PNG_METADATA)
        with atomic_output(svg) as tmp:
            fig.savefig(tmp, format="svg", metadata=SVG_METADATA)
    plt.close(fig)
