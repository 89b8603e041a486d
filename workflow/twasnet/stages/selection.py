"""Gene selection: each gene's REML cis-h² on every repeat's training individuals, and the
decision to train it or not (selection.tsv)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from twasnet.cohort import Cohort, CohortFiles
from twasnet.errors import InputError
from twasnet.io.store import GeneData, gene_loader, read_table, write_table
from twasnet.select import assess_gene, decide

log = logging.getLogger("twasnet")


def select_genes(
    *,
    store_dirs: Sequence[str],
    cohort_files: CohortFiles,
    mode: str,
    p_max: float,
    gene_list_path: str | None,
    out_path: str,
) -> None:
    """Assess every gene's cis-h² on each repeat's training individuals and write selection.tsv,
    one row per gene and repeat, with the status ``selected`` or the reason it was dropped."""
    cohorts = cohort_files.load_splits()
    gene_list = None
    if mode == "list":
        gene_list = read_gene_list(gene_list_path, known=cohorts[0].expression.index)
    rows = []
    for store in store_dirs:
        load = gene_loader(store)
        for gene_id in read_table(Path(store) / "genes.tsv")["gene_id"].astype(str):
            gene = load(gene_id)
            rows += [
                _selection_row(gene, cohort, mode=mode, p_max=p_max, gene_list=gene_list)
                for cohort in cohorts
            ]
    table = pd.DataFrame(rows).sort_values(["chrom", "tss", "gene_id", "split"])
    counts = table.groupby("status").size().to_dict()
    log.info("selection: %s", counts)
    if not counts.get("selected"):
        log.warning(no_gene_selected_message(counts, mode=mode, p_max=p_max, path=out_path))
    write_table(table, out_path)


def _selection_row(
    gene: GeneData, cohort: Cohort, *, mode: str, p_max: float, gene_list: list[str] | None
) -> dict:
    """selection.tsv's row of one gene and split: its REML cis-h² on the split's training
    individuals and the decision (status ``selected`` or why not)."""
    y = cohort.expression_of(gene.gene_id)
    assessment = assess_gene(y, gene.dosages, cohort.covariates, train_idx=cohort.train_idx)
    status, reason = decide(
        assessment, gene_id=gene.gene_id, mode=mode, p_max=p_max, gene_list=gene_list
    )
    return (
        {"gene_id": gene.gene_id, "chrom": gene.chrom, "tss": gene.tss, "split": cohort.split}
        | {"n_variants": gene.dosages.shape[1]}
        | {k: assessment[k] for k in ("h2", "h2_se", "h2_p", "lrt_stat")}
        | {"converged": assessment["converged"], "boundary": assessment["boundary"]}
        | {"status": status, "reason": reason}
    )


def no_gene_selected_message(counts: Mapping[str, int], *, mode: str, p_max: float, path: str):
    """The warning when selection keeps no gene: every table downstream will have no rows."""
    found = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no genes"
    hint = (
        f" With select.mode 'reml' a gene needs a REML LRT p below select.p_max ({p_max:g}): "
        "raise it, or use select.mode 'all'."
        if mode == "reml" and counts.get("not_heritable")
        else ""
    )
    return (
        f"No gene was selected for training (gene x split rows: {found}); {path} gives each "
        f"gene's reason, and r2.tsv and the comparison tables will have no rows.{hint}"
    )


def read_gene_list(path: str | None, *, known: Sequence[str]) -> list[str]:
    """Gene ids from a one-column TSV (header ``gene_id``, or no header); all must be known."""
    if not path:
        raise InputError("select.mode is 'list' but select.gene_list is not set: give a TSV of ids")
    frame = pd.read_csv(path, sep="\t", header=None, dtype=str, comment="#")
    ids = [g.strip() for g in frame.iloc[:, 0] if g.strip() and g.strip() != "gene_id"]
    unknown = sorted(set(ids) - set(map(str, known)))
    if unknown:
        raise InputError(
            f"{path}: {len(unknown)} gene id(s) are not in the expression file, e.g. "
            f"{', '.join(unknown[:5])}; check the ids (version suffixes such as '.1' must match)"
        )
    return ids
