"""Per-variant functional annotations (parquet or TSV) and their alignment to genotype variants."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from twasnet.errors import InputError
from twasnet.io.variants import canonical_chrom

KEY_COLUMNS = ("chrom", "pos", "ref", "alt")
MISSING_COLUMN = "annotation_missing"
# identifier columns that are carried by many annotation files and are simply ignored
_IGNORED = frozenset({"variant_id", "rsid", "rs_id", "id"})


def _normalise_name(name: str) -> str:
    return str(name).strip().lstrip("#").lower()


def _read_any(path: str) -> pd.DataFrame:
    if not os.path.exists(path):
        raise InputError(f"Annotation file {path!r} does not exist; check the config.")
    lower = path.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t", compression="infer", low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"Annotation file {path!r} is empty.") from exc
    except Exception as exc:  # parquet / csv readers raise many types for corrupt input
        raise InputError(
            f"Annotation file {path!r} could not be read ({type(exc).__name__}: {exc}). Use "
            "parquet (.parquet/.pq) or a tab-separated table (optionally gzipped)."
        ) from exc


def _parse_variant_ids(path: str, ids: pd.Series) -> pd.DataFrame:
    """GTEx-style ids chr1_12345_A_G_b38 (also 1:12345:A:G) -> chrom, pos, ref, alt."""
    text = ids.astype(str).str.strip()
    parts = text.str.replace(":", "_", regex=False).str.split("_", regex=False)
    ok = parts.str.len() >= 4
    if not ok.all():
        i = int(np.flatnonzero(~ok.to_numpy())[0])
        raise InputError(
            f"Annotation file {path!r}: variant_id {text.iloc[i]!r} (row {i + 1}) is not of the "
            "form chr1_12345_A_G_b38 (chrom_pos_ref_alt[_build])."
        )
    return pd.DataFrame(
        {
            "chrom": parts.str[0],
            "pos": parts.str[1],
            "ref": parts.str[2],
            "alt": parts.str[3],
        },
        index=ids.index,
    )


def read_annotations(path: str) -> pd.DataFrame:
    """Annotation table: chrom (canonical str), pos (int64), ref, alt + numeric columns (float64).

    Keys are columns `chrom pos ref alt` (case-insensitive, a leading '#' ignored) or a GTEx-style
    `variant_id` (chr1_12345_A_G_b38). Identifier columns (variant_id, rsid, id) are dropped; every
    other column must be numeric (booleans and numeric text are converted).
    """
    df = _read_any(path)
    names = {_normalise_name(c): c for c in df.columns}
    if all(k in names for k in KEY_COLUMNS):
        keys = pd.DataFrame({k: df[names[k]] for k in KEY_COLUMNS})
        used = {names[k] for k in KEY_COLUMNS}
    elif "variant_id" in names:
        keys = _parse_variant_ids(path, df[names["variant_id"]])
        used = {names["variant_id"]}
    else:
        raise InputError(
            f"Annotation file {path!r} lacks key columns: expected either chrom, pos, ref, alt or "
            f"a variant_id like chr1_12345_A_G_b38; found {', '.join(map(str, df.columns))}."
        )
    used |= {c for n, c in names.items() if n in _IGNORED}

    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    chrom = keys["chrom"].astype(str).str.strip()
    out["chrom"] = pd.array([canonical_chrom(c) for c in chrom], dtype=str)
    pos = pd.to_numeric(keys["pos"], errors="coerce")
    bad = ~np.isfinite(pos.to_numpy(dtype=np.float64, na_value=np.nan))
    bad |= np.where(bad, False, pos.fillna(0).to_numpy(dtype=np.float64) % 1 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"Annotation file {path!r}, row {i + 1}: position {keys['pos'].iloc[i]!r} is not an "
            "integer."
        )
    out["pos"] = pos.to_numpy(dtype=np.float64).astype(np.int64)
    for k in ("ref", "alt"):
        out[k] = pd.array(keys[k].astype(str).str.strip().str.upper().to_numpy(), dtype=str)

    n_numeric = 0
    for col in df.columns:
        if col in used:
            continue
        name = str(col)
        if name in out.columns or name == MISSING_COLUMN:
            raise InputError(
                f"Annotation file {path!r}: column {name!r} clashes with a reserved name "
                f"({', '.join([*KEY_COLUMNS, MISSING_COLUMN])}); rename it."
            )
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            values = s.astype(np.float64).to_numpy()
        else:
            conv = pd.to_numeric(s, errors="coerce")
            text_bad = conv.isna() & s.notna() & (s.astype(str).str.strip() != "")
            if text_bad.any():
                i = int(np.flatnonzero(text_bad.to_numpy())[0])
                raise InputError(
                    f"Annotation file {path!r}: column {name!r} is not numeric (row {i + 1} has "
                    f"{s.iloc[i]!r}). Annotations must be numbers; encode categories as 0/1 "
                    "columns or drop the column."
                )
            values = conv.to_numpy(dtype=np.float64, na_value=np.nan)
        out[name] = values
        n_numeric += 1
    if n_numeric == 0:
        raise InputError(
            f"Annotation file {path!r} has no annotation columns besides the keys "
            f"({', '.join(map(str, df.columns))}); add at least one numeric column."
        )
    dup = out.duplicated(subset=list(KEY_COLUMNS)).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        r = out.iloc[i]
        raise InputError(
            f"Annotation file {path!r}: variant {r['chrom']}:{r['pos']}:{r['ref']}:{r['alt']} "
            f"appears more than once (row {i + 1}). Keep one row per variant."
        )
    return out


def match_annotations(
    variants: pd.DataFrame, annotations: pd.DataFrame, *, fill_value: float = 0.0
) -> pd.DataFrame:
    """Annotation rows aligned 1:1 with `variants` (same index and order).

    variants: needs chrom, pos, ref, alt. Matching is on canonical chrom + pos and the allele pair
    either way round (an exact ref/alt match wins over a swapped one). Returns the annotation
    columns (float64) plus `annotation_missing` (1.0 where no annotation row matched); unmatched
    variants and missing (NaN) annotation values get `fill_value`.
    """
    ann_cols = [c for c in annotations.columns if c not in KEY_COLUMNS]
    left = pd.DataFrame(
        {
            "chrom": [canonical_chrom(c) for c in variants["chrom"].astype(str)],
            "pos": variants["pos"].to_numpy(dtype=np.int64),
            "ref": variants["ref"].astype(str).str.upper().to_numpy(),
            "alt": variants["alt"].astype(str).str.upper().to_numpy(),
            "_row": np.arange(len(variants)),
        }
    )
    right = annotations[[*KEY_COLUMNS, *ann_cols]].copy()
    right["chrom"] = [canonical_chrom(c) for c in right["chrom"].astype(str)]
    right["pos"] = right["pos"].to_numpy(dtype=np.int64)
    right["ref"] = right["ref"].astype(str).str.upper()
    right["alt"] = right["alt"].astype(str).str.upper()
    right = right.drop_duplicates(subset=list(KEY_COLUMNS))
    swapped = right.rename(columns={"ref": "alt", "alt": "ref"})

    values = np.full((len(variants), len(ann_cols)), np.nan)
    found = np.zeros(len(variants), dtype=bool)
    for table in (right, swapped):
        todo = left.loc[~found[left["_row"].to_numpy()]]
        if todo.empty:
            break
        hit = todo.merge(table, on=list(KEY_COLUMNS), how="inner")
        hit = hit.drop_duplicates(subset="_row")
        rows = hit["_row"].to_numpy()
        values[rows] = hit[ann_cols].to_numpy(dtype=np.float64)
        found[rows] = True
    values[np.isnan(values)] = fill_value
    out = pd.DataFrame(values, index=variants.index, columns=pd.Index(ann_cols, dtype=object))
    out[MISSING_COLUMN] = (~found).astype(np.float64)
    return out


# Below this share of a chromosome's kept variants with an annotation row, the annotation file is
# almost certainly on another genome build or coordinate convention: extract_cis warns (console,
# log and results/cis/<chrom>/annotation_match.tsv).
MIN_MATCH_RATE = 0.5
MATCH_COLUMNS = (
    "chrom",
    "n_variants",
    "n_matched",
    "match_rate",
    "match_rate_if_annotations_minus_1",
    "match_rate_if_annotations_plus_1",
    "low_match",
)


def match_report(
    chrom: str, variants: pd.DataFrame, annotations: pd.DataFrame, matched: pd.DataFrame
) -> dict:
    """One row of annotation_match.tsv: how many of the chromosome's variants ``matched``
    (:func:`match_annotations`) found an annotation row, and the share whose position would match
    one if the annotation positions were 1 bp lower or higher (a 0- vs 1-based mix-up shows as
    ~1.0 in one of them)."""
    n_variants = len(variants)
    n_matched = int((matched[MISSING_COLUMN] == 0).sum()) if n_variants else 0
    pos = variants["pos"].to_numpy(dtype=np.int64)
    known = annotations["pos"].to_numpy(dtype=np.int64)

    def rate(count: int | np.integer) -> float:
        return float(count) / n_variants if n_variants else float("nan")

    row = {"chrom": chrom, "n_variants": n_variants, "n_matched": n_matched}
    row["match_rate"] = rate(n_matched)
    row["match_rate_if_annotations_minus_1"] = rate(np.isin(pos + 1, known).sum())
    row["match_rate_if_annotations_plus_1"] = rate(np.isin(pos - 1, known).sum())
    row["low_match"] = bool(n_variants and row["match_rate"] < MIN_MATCH_RATE)
    return row


def low_match_warning(path: str, row: dict) -> str | None:
    """The warning for a :func:`match_report` row below :data:`MIN_MATCH_RATE`, else None."""
    if not row["low_match"]:
        return None
    shifts = {
        -1: row["match_rate_if_annotations_minus_1"],
        1: row["match_rate_if_annotations_plus_1"],
    }
    shift = max(shifts, key=lambda k: shifts[k])
    shifted = shifts[shift]
    text = (
        f"Annotation file {path!r} matches only {row['n_matched']:,} of the {row['n_variants']:,} "
        f"variants kept on chromosome {row['chrom']} ({row['match_rate']:.1%}, below "
        f"{MIN_MATCH_RATE:.0%}); the others get annotations.fill_value and annotation_missing = 1. "
        "Check that the annotations use the genotypes' genome build (e.g. GRCh38 vs GRCh37) and "
        "1-based positions as in VCF POS (a BED-derived file is 0-based: add 1 to its start)."
    )
    if shifted >= MIN_MATCH_RATE:
        text += (
            f" {shifted:.1%} of the variants would match if the annotation positions were "
            f"shifted by {shift:+d} bp: an off-by-one position convention."
        )
    return text
