"""The analysis cohort: samples present in genotypes, expression and (optionally) covariates
(:func:`intersect_samples`, when the cohort is prepared), and the :class:`Cohort` value every
later stage loads once (:class:`CohortFiles`): its samples, expression, covariates and one split."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from twasnet.errors import InputError
from twasnet.io.store import read_table
from twasnet.split import split_indices

_SEPARATORS = re.compile(r"[-_.:/ ]")


@dataclass(frozen=True)
class SampleIntersection:
    """samples: the intersection in genotype-file order; counts: ids per source + "intersection"
    (no "covariates" key without covariates); only_in: per source, its ids left out (in source
    order)."""

    samples: list[str]
    counts: dict[str, int]
    only_in: dict[str, list[str]]


def _normalise(s: str) -> str:
    return _SEPARATORS.sub("", s.strip().casefold())


def _prefixes(s: str) -> list[str]:
    """Leading parts of `s` ending before a separator: GTEX-1117F-0226 -> GTEX, GTEX-1117F."""
    return [s[: m.start()] for m in _SEPARATORS.finditer(s) if m.start() > 0]


def _hints(sources: dict[str, list[str]]) -> list[str]:
    """Explain ids that differ only in case/separators/whitespace or by a prefix relation."""
    hints: list[str] = []
    names = list(sources)
    for a_i, a in enumerate(names):
        for b in names[a_i + 1 :]:
            ids_a, ids_b = sources[a], sources[b]
            set_b = set(ids_b)
            norm_b = {_normalise(x): x for x in ids_b}
            fuzzy = [
                (x, norm_b[_normalise(x)])
                for x in ids_a
                if x not in set_b and _normalise(x) in norm_b
            ]
            if fuzzy:
                ex = ", ".join(f"{x!r} ~ {y!r}" for x, y in fuzzy[:3])
                hints.append(
                    f"{len(fuzzy)} {a} ids match {b} ids only when case, whitespace and "
                    f"separators are ignored (e.g. {ex})"
                )
            for short, short_ids, long, long_ids in ((a, ids_a, b, ids_b), (b, ids_b, a, ids_a)):
                short_set = set(short_ids)
                long_set = set(long_ids)
                pairs = []
                for y in long_ids:
                    if y in short_set:
                        continue
                    for p in _prefixes(y):
                        if p in short_set and p not in long_set:
                            pairs.append((p, y))
                            break
                if pairs:
                    ex = ", ".join(f"{x!r} vs {y!r}" for x, y in pairs[:3])
                    hints.append(
                        f"{len(pairs)} {long} ids start with a {short} id (e.g. {ex}); are "
                        f"{long} ids sample/aliquot ids where {short} uses subject ids? "
                        "Map them to one id scheme"
                    )
    return hints


def intersect_samples(
    *,
    genotype: Sequence[str],
    expression: Sequence[str],
    covariates: Sequence[str] | None,
    min_samples: int,
) -> SampleIntersection:
    """Samples in every source, in genotype order; InputError if fewer than `min_samples`."""
    sources: dict[str, list[str]] = {
        "genotype": [str(s) for s in genotype],
        "expression": [str(s) for s in expression],
    }
    if covariates is not None:
        sources["covariates"] = [str(s) for s in covariates]
    common = set(sources["genotype"])
    for ids in list(sources.values())[1:]:
        common &= set(ids)
    samples = list(dict.fromkeys(s for s in sources["genotype"] if s in common))
    counts = {name: len(dict.fromkeys(ids)) for name, ids in sources.items()}
    counts["intersection"] = len(samples)
    only_in = {
        name: list(dict.fromkeys(s for s in ids if s not in common))
        for name, ids in sources.items()
    }
    if len(samples) < min_samples:
        per_source = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "intersection")
        lines = [
            f"Only {len(samples)} samples are shared by the inputs ({per_source}); at least "
            f"{min_samples} are needed (config min_samples)."
        ]
        for name in sources:
            left = only_in[name]
            if left:
                lines.append(
                    f"  {len(left)} {name} ids are not in the other inputs, e.g. "
                    f"{', '.join(repr(x) for x in left[:3])}."
                )
        hints = _hints(sources)
        if hints:
            lines.append("Possible id mismatches:")
            lines.extend(f"  - {h}." for h in hints)
        lines.append(
            "Check that the genotype, expression and covariate files use the same sample ids."
        )
        raise InputError("\n".join(lines))
    return SampleIntersection(samples=samples, counts=counts, only_in=only_in)


def lost_samples_message(found: SampleIntersection, files: dict[str, str]) -> str | None:
    """A warning naming, per input, how many samples of the other inputs it lacks (so they are
    left out of the cohort), with the input's file from ``files`` (source -> path); None when
    every input has every sample."""
    left_out = list(dict.fromkeys(s for ids in found.only_in.values() for s in ids))
    if not left_out:
        return None
    parts = []
    for source, present in found.only_in.items():
        here = set(present)
        lacking = [s for s in left_out if s not in here]
        if lacking:
            shown = ", ".join(repr(s) for s in lacking[:3])
            count = "1 sample is" if len(lacking) == 1 else f"{len(lacking)} samples are"
            parts.append(
                f"{count} missing from the {source} file {files.get(source, '?')!r} (e.g. {shown})"
            )
    counts = ", ".join(f"{k} {v}" for k, v in found.counts.items() if k != "intersection")
    return (
        f"Samples left out of the cohort: {len(left_out)} of the samples found ({counts}) are "
        f"not in every input, so the cohort has {found.counts['intersection']}: "
        f"{'; '.join(parts)}. Check those files' sample ids if these samples should be analysed; "
        "results/cohort/summary.json lists every id left out."
    )


def missing_genotypes_message(
    key: str,
    pattern: str,
    missing: dict[str, str],
    *,
    chromosomes: Sequence[str],
    expression_path: str,
    listed: bool,
) -> str:
    """What to say when chromosomes to process have no genotype file: ``missing`` maps each
    to the path that does not exist (``pattern`` of config key ``key``); the genes each holds
    are read from the expression file (``listed``: the chromosomes came from
    genotypes.chromosomes, not from the expression file)."""
    from twasnet.io.expression import read_expression_bed

    genes = read_expression_bed(expression_path).genes
    parts = []
    for chrom, path in missing.items():
        ids = genes.loc[genes["chrom"] == chrom, "gene_id"].tolist()
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        held = f"{len(ids)} gene(s) of {expression_path!r}: {shown}" if ids else "no gene"
        origin = "listed in genotypes.chromosomes; " if listed else ""
        parts.append(f"chromosome {chrom} ({origin}{held}): {path!r} does not exist")
    others = [c for c in chromosomes if c not in missing]
    hint = f" (e.g. [{', '.join(others)}])" if others else ""
    return (
        f"No genotype file ({key}: {pattern!r}) for " + "; ".join(parts) + ". Provide the "
        f"missing file(s), or set genotypes.chromosomes to the chromosomes to process{hint}, "
        "which leaves the genes of the others out."
    )


@dataclass(frozen=True, eq=False)
class Cohort:
    """The prepared cohort as one split sees it.

    ``samples``: the n sample ids in the order of ``samples.tsv`` (and of the cis stores' dosage
    columns); ``expression``: the expression table indexed by gene_id, with one column per sample
    (besides the gene columns); ``covariates``: (n, k) float64 in sample order; ``train_idx``
    (n_train,) and ``test_idx`` (n_test,): positions in ``samples`` of the split's training and
    held-out individuals; ``folds``: (n_train,) inner-CV fold of each training individual;
    ``split``: the repeat of the split these indices belong to."""

    samples: list[str]
    expression: pd.DataFrame
    covariates: np.ndarray
    train_idx: np.ndarray
    test_idx: np.ndarray
    folds: np.ndarray
    split: int

    def expression_of(self, gene_id: str) -> np.ndarray:
        """(n,) float64 expression of ``gene_id`` in sample order; KeyError for an unknown gene."""
        return self.expression.loc[gene_id, self.samples].to_numpy(np.float64)


@dataclass(frozen=True)
class CohortFiles:
    """Where the prepared cohort lies: ``samples``, ``expression`` and ``covariates`` of
    ``results/cohort/`` and the ``split`` table; what each stage that selects or trains on a
    :class:`Cohort` is given, to load it once."""

    samples: str
    expression: str
    covariates: str
    split: str

    @classmethod
    def under(cls, results: str | Path) -> CohortFiles:
        """The files of the workflow's own layout under a ``results`` directory."""
        r = Path(results)
        return cls(
            samples=str(r / "cohort/samples.tsv"),
            expression=str(r / "cohort/expression.parquet"),
            covariates=str(r / "cohort/covariates.parquet"),
            split=str(r / "split/split.tsv"),
        )

    def load(self, split: int) -> Cohort:
        """The cohort with the indices of repeat ``split`` of the split table."""
        samples, expression, covariates = _cohort_tables(self)
        return _with_split(samples, expression, covariates, read_table(self.split), split)

    def load_splits(self) -> list[Cohort]:
        """One :class:`Cohort` per repeat of the split table, in repeat order, sharing the
        tables read once."""
        samples, expression, covariates = _cohort_tables(self)
        table = read_table(self.split)
        return [
            _with_split(samples, expression, covariates, table, int(repeat))
            for repeat in sorted(table["repeat"].unique())
        ]


def _cohort_tables(files: CohortFiles) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    """Sample ids, the expression table by gene_id and the (n, k) covariates in sample order."""
    samples = read_table(files.samples)["sample"].astype(str).tolist()
    expression = read_table(files.expression).set_index("gene_id")
    covariates = read_table(files.covariates).set_index("sample")
    covariates.index = covariates.index.astype(str)
    return samples, expression, covariates.loc[samples].to_numpy(dtype=np.float64)


def _with_split(
    samples: list[str],
    expression: pd.DataFrame,
    covariates: np.ndarray,
    table: pd.DataFrame,
    split: int,
) -> Cohort:
    train_idx, test_idx, folds = split_indices(table, samples, repeat=split)
    return Cohort(samples, expression, covariates, train_idx, test_idx, folds, split)
