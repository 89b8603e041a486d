"""PredictDB export of linear models: the SQLite file and covariance file that S-PrediXcan reads.

The database has the tables of PredictDB/GTEx model files:
``weights(gene, rsid, varID, ref_allele, eff_allele, weight)`` (the weight multiplies the dosage of
``eff_allele``), ``extra(gene, genename, gene_type, n.snps.in.model, pred.perf.R2, pred.perf.pval,
pred.perf.qval)`` plus twasnet's ``h2``, ``h2.pval``, ``heldout.R2`` and ``heldout.R2.sse``,
``sample_info(n.samples)`` and ``construction(chr, cv.seed)``. A covariance file is gzipped,
space-separated ``GENE RSID1 RSID2 VALUE``: the dosage covariance of each gene's model SNPs among
the training individuals (upper triangle with the diagonal). S-PrediXcan looks the covariance up
by the weights column that ``--model_db_snp_key`` names (``rsid`` when not given), so there is one
file per key (:data:`COVARIANCE_KEYS`), its SNPs named by that column.

An optional PredictDB-style filter (:func:`performance_filter`) keeps only genes whose held-out
prediction is good enough; every gene left out is listed with its reason (the export's genes
table, :data:`STATUS_COLUMNS`).
"""

from __future__ import annotations

import gzip
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from twasnet.associate import fdr
from twasnet.errors import InputError
from twasnet.io.store import atomic_output

WEIGHT_COLUMNS = ("gene", "rsid", "varID", "ref_allele", "eff_allele", "weight")
EXTRA_COLUMNS = (
    "gene",
    "genename",
    "gene_type",
    "n.snps.in.model",
    "pred.perf.R2",
    "pred.perf.pval",
    "pred.perf.qval",
)
EXTRA_TWASNET = ("h2", "h2.pval", "heldout.R2", "heldout.R2.sse")
COVARIANCE_COLUMNS = ("GENE", "RSID1", "RSID2", "VALUE")
# The weights columns S-PrediXcan can key SNPs by (--model_db_snp_key): one covariance file each.
COVARIANCE_KEYS = ("rsid", "varID")
# Columns of the export's gene table (every gene the model was trained on, exported or not).
STATUS_COLUMNS = (
    "gene_id",
    "exported",
    "reason",
    "n_snps",
    "r2_pearson",
    "pearson_r",
    "pearson_p",
)
_SQL_TYPES = {"weight": "DOUBLE", "n.snps.in.model": "INTEGER"}


def gtex_varid(
    chrom: Sequence[str], pos: Sequence[int], ref: Sequence[str], alt: Sequence[str], *, build: str
) -> list[str]:
    """GTEx-style variant ids ``chr1_12345_A_G_b38`` (``build`` e.g. "b38"; "" for none)."""
    suffix = f"_{build}" if build else ""
    return [
        f"chr{str(c).removeprefix('chr')}_{int(p)}_{r}_{a}{suffix}"
        for c, p, r, a in zip(chrom, pos, ref, alt, strict=True)
    ]


def gene_weights(
    gene_id: str, *, variants: pd.DataFrame, coef: np.ndarray, build: str
) -> pd.DataFrame:
    """One gene's rows of ``weights``: its variants (columns chrom, pos, variant_id, ref, alt;
    p rows) with nonzero ``coef`` (p,). rsid is the VCF ID, or the varID when the ID was empty."""
    coef = np.asarray(coef, dtype=np.float64)
    keep = np.flatnonzero(coef != 0)
    v = variants.iloc[keep]
    varid = gtex_varid(v["chrom"], v["pos"], v["ref"], v["alt"], build=build)
    ids = v["variant_id"].fillna("").astype(str).tolist()
    rsid = [i if i and i != "." else vid for i, vid in zip(ids, varid, strict=True)]
    return pd.DataFrame(
        {
            "gene": gene_id,
            "rsid": rsid,
            "varID": varid,
            "ref_allele": v["ref"].astype(str).to_numpy(),
            "eff_allele": v["alt"].astype(str).to_numpy(),
            "weight": coef[keep],
        },
        columns=list(WEIGHT_COLUMNS),
    )


def extra_table(performance: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """``extra`` for the genes of ``weights``. ``performance`` has one row per gene: gene_id,
    r2_pearson, pearson_p, r2_sse (held-out), h2 and h2_p (selection). pred.perf.R2/pval are the
    held-out R² and its p; qval is Benjamini–Hochberg over the exported genes."""
    counts = weights.groupby("gene", sort=False).size()
    perf = performance.set_index("gene_id").loc[counts.index]
    pval = perf["pearson_p"].to_numpy(dtype=np.float64)
    qval = fdr(pval)
    return pd.DataFrame(
        {
            "gene": counts.index.astype(str),
            "genename": counts.index.astype(str),
            "gene_type": "NA",
            "n.snps.in.model": counts.to_numpy(dtype=np.int64),
            "pred.perf.R2": perf["r2_pearson"].to_numpy(dtype=np.float64),
            "pred.perf.pval": pval,
            "pred.perf.qval": qval,
            "h2": perf["h2"].to_numpy(dtype=np.float64),
            "h2.pval": perf["h2_p"].to_numpy(dtype=np.float64),
            "heldout.R2": perf["r2_pearson"].to_numpy(dtype=np.float64),
            "heldout.R2.sse": perf["r2_sse"].to_numpy(dtype=np.float64),
        }
    )


def gene_covariance(gene_id: str, *, rsids: Sequence[str], dosages: np.ndarray) -> pd.DataFrame:
    """Covariance rows of one gene: ``dosages`` (n_train, k) of its k model SNPs (order of
    ``rsids``) on training individuals; sample covariance (ddof 1), pairs i <= j."""
    x = np.asarray(dosages, dtype=np.float64)
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    i, j = np.triu_indices(len(rsids))
    rsids = np.asarray(rsids, dtype=object)
    return pd.DataFrame({"GENE": gene_id, "RSID1": rsids[i], "RSID2": rsids[j], "VALUE": cov[i, j]})


def rekey_covariance(cov: pd.DataFrame, weights: pd.DataFrame, key: str) -> pd.DataFrame:
    """``cov`` (SNPs named by the weights' rsid) with its SNPs named by the weights' ``key``
    column instead (one of :data:`COVARIANCE_KEYS`)."""
    if key == "rsid":
        return cov
    by = pd.MultiIndex.from_arrays([weights["gene"], weights["rsid"]])
    names = weights[key].to_numpy(dtype=object)

    def renamed(column: str) -> np.ndarray:
        row = by.get_indexer(pd.MultiIndex.from_arrays([cov["GENE"], cov[column]]))
        if (row < 0).any():
            raise ValueError(f"covariance SNPs not among the weights ({column})")
        return names[row]

    return cov.assign(RSID1=renamed("RSID1"), RSID2=renamed("RSID2"))


def performance_filter(
    performance: pd.DataFrame, *, r2_min: float | None, p_max: float | None
) -> pd.Series:
    """PredictDB-style filter on held-out performance: per gene of ``performance`` (gene_id,
    r2_pearson, pearson_r, pearson_p), "" if it passes, else why not. A gene passes when its
    held-out prediction correlates positively with expression, with R² > ``r2_min`` and p <
    ``p_max`` (either None: not applied)."""
    reasons = []
    for r2, r, p in zip(
        performance["r2_pearson"], performance["pearson_r"], performance["pearson_p"], strict=True
    ):
        r2, r, p = (float(v) if v is not None else np.nan for v in (r2, r, p))
        why = []
        if not np.isfinite(r2) or not np.isfinite(p):
            why.append("no held-out R² or p")
        else:
            if r <= 0:
                why.append(f"held-out correlation r = {r:.3g} is not positive")
            if r2_min is not None and not r2 > r2_min:
                why.append(f"held-out R² {r2:.3g} <= export.filter.r2_min {r2_min:g}")
            if p_max is not None and not p < p_max:
                why.append(f"held-out p {p:.3g} >= export.filter.p_max {p_max:g}")
        reasons.append("; ".join(why))
    return pd.Series(reasons, index=performance.index, dtype=object)


def write_predictdb(
    path: str | Path,
    *,
    weights: pd.DataFrame,
    extra: pd.DataFrame,
    n_samples: int,
    chromosomes: Sequence[str],
    seed: int,
) -> None:
    """Write the SQLite model file atomically (tables and indices as PredictDB makes them)."""
    with atomic_output(path) as tmp:
        tmp.unlink()
        connection = sqlite3.connect(tmp)
        try:
            _create(connection, "weights", weights, list(WEIGHT_COLUMNS))
            _create(connection, "extra", extra, list(EXTRA_COLUMNS + EXTRA_TWASNET))
            _create(connection, "sample_info", pd.DataFrame({"n.samples": [n_samples]}), None)
            construction = pd.DataFrame({"chr": list(chromosomes), "cv.seed": seed})
            _create(connection, "construction", construction, None)
            connection.executescript(
                "CREATE INDEX weights_rsid ON weights (rsid);"
                "CREATE INDEX weights_gene ON weights (gene);"
                "CREATE INDEX weights_rsid_gene ON weights (rsid, gene);"
                "CREATE INDEX gene_model_summary ON extra (gene);"
            )
            connection.commit()
        finally:
            connection.close()


def _create(connection: sqlite3.Connection, name: str, frame: pd.DataFrame, columns) -> None:
    columns = list(frame.columns) if columns is None else columns
    kinds = {
        c: _SQL_TYPES.get(c)
        or ("INTEGER" if pd.api.types.is_integer_dtype(frame[c]) else None)
        or ("DOUBLE" if pd.api.types.is_float_dtype(frame[c]) else "TEXT")
        for c in columns
    }
    spec = ", ".join(f'"{c}" {kinds[c]}' for c in columns)
    connection.execute(f'CREATE TABLE "{name}" ({spec})')
    marks = ", ".join("?" for _ in columns)
    rows = [tuple(_plain(v) for v in row) for row in frame[columns].itertuples(index=False)]
    connection.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows)


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def write_covariance(frame: pd.DataFrame, path: str | Path, *, chunk: int = 500_000) -> None:
    """Write the gzipped, space-separated covariance file atomically (no timestamp in the gzip
    header, so equal content gives equal bytes; zlib's default level 6, as the gzip command).
    The text is what ``to_csv(sep=" ", float_format="%.8g")`` writes, formatted here in chunks
    of rows: pandas took minutes for the millions of rows of a dense model (blup)."""
    columns = [frame[c].to_numpy(dtype=object) for c in COVARIANCE_COLUMNS[:3]]
    values = frame["VALUE"].to_numpy(dtype=np.float64)
    with atomic_output(path) as tmp:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as handle,
        ):
            handle.write((" ".join(COVARIANCE_COLUMNS) + "\n").encode())
            for start in range(0, len(values), chunk):
                part = slice(start, start + chunk)
                rows = zip(*(c[part] for c in columns), values[part], strict=True)
                handle.write("".join(f"{g} {a} {b} {v:.8g}\n" for g, a, b, v in rows).encode())


def read_predictdb(path: str | Path) -> dict[str, pd.DataFrame]:
    """Every table of a model database, by name."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {n: pd.read_sql_query(f'SELECT * FROM "{n}"', connection) for n in names}
    finally:
        connection.close()


def read_covariance(path: str | Path) -> pd.DataFrame:
    """The covariance file as a table with columns GENE RSID1 RSID2 VALUE."""
    types = {"GENE": str, "RSID1": str, "RSID2": str, "VALUE": np.float64}
    return pd.read_csv(path, sep=" ", dtype=types, engine="pyarrow")


def check_predictdb(
    db_path: str | Path,
    covariance_path: str | Path | None = None,
    *,
    snp_key: str = "rsid",
) -> None:
    """Check a written model file (and a covariance file, its SNPs named by the weights'
    ``snp_key`` column, as S-PrediXcan's ``--model_db_snp_key`` looks them up) against what
    S-PrediXcan reads; raise :class:`InputError` listing every problem."""
    problems = []
    tables = read_predictdb(db_path)
    required = {
        "weights": WEIGHT_COLUMNS,
        "extra": EXTRA_COLUMNS,
        "sample_info": ("n.samples",),
        "construction": ("chr", "cv.seed"),
    }
    for name, columns in required.items():
        if name not in tables:
            problems.append(f"table {name} is missing")
            continue
        absent = [c for c in columns if c not in tables[name].columns]
        if absent:
            problems.append(f"table {name} lacks column(s) {', '.join(absent)}")
    if not problems:
        weights, extra = tables["weights"], tables["extra"]
        if weights[list(WEIGHT_COLUMNS)].isna().any().any():
            problems.append("weights has empty cells")
        for key in COVARIANCE_KEYS:
            if weights.duplicated(["gene", key]).any():
                problems.append(f"weights lists a (gene, {key}) pair twice")
        if not np.isfinite(weights["weight"].to_numpy(dtype=np.float64)).all():
            problems.append("weights has non-finite weights")
        bad_alleles = ~weights["ref_allele"].str.fullmatch("[ACGT]+") | ~weights[
            "eff_allele"
        ].str.fullmatch("[ACGT]+")
        if bad_alleles.any():
            problems.append("weights has alleles other than A/C/G/T")
        counts = weights.groupby("gene").size()
        declared = extra.set_index("gene")["n.snps.in.model"]
        if set(counts.index) != set(declared.index):
            problems.append("genes of weights and extra differ")
        elif not (declared.loc[counts.index] == counts).all():
            problems.append("extra n.snps.in.model differs from the weights per gene")
        if len(tables["sample_info"]) != 1 or int(tables["sample_info"]["n.samples"][0]) < 1:
            problems.append("sample_info must hold one positive n.samples")
        if covariance_path is not None:
            problems += [
                f"covariance {covariance_path}: {problem}"
                for problem in _check_covariance(read_covariance(covariance_path), weights, snp_key)
            ]
    if problems:
        raise InputError(f"{db_path}: not a valid PredictDB model file: " + "; ".join(problems))


def _check_covariance(cov: pd.DataFrame, weights: pd.DataFrame, key: str) -> list[str]:
    if list(cov.columns) != list(COVARIANCE_COLUMNS):
        return [f"header is {list(cov.columns)}, expected {list(COVARIANCE_COLUMNS)}"]
    if key not in COVARIANCE_KEYS:
        return [f"unknown snp key {key!r} (one of {', '.join(COVARIANCE_KEYS)})"]
    problems = []
    model = pd.MultiIndex.from_arrays([weights["gene"].astype(str), weights[key].astype(str)])
    first = pd.MultiIndex.from_arrays([cov["GENE"], cov["RSID1"]])
    seen = first.append(pd.MultiIndex.from_arrays([cov["GENE"], cov["RSID2"]])).unique()
    unknown = seen[model.get_indexer(seen) < 0].sort_values()
    if len(unknown):
        gene, snp = unknown[0]
        problems.append(
            f"{len(unknown)} SNP(s) are not among their gene's weights by {key} (e.g. {snp!r} of "
            f"{gene}): S-PrediXcan with --model_db_snp_key {key} would not find their covariance"
        )
    diagonal = (cov["RSID1"] == cov["RSID2"]).to_numpy()
    variances = first[diagonal].unique()
    if len(variances) != len(model.unique()) or (model.get_indexer(variances) < 0).any():
        problems.append(f"lacks the variance of some model SNPs (by {key})")
    if (cov["VALUE"][diagonal] < 0).any() or not np.isfinite(cov["VALUE"]).all():
        problems.append("has negative variances or non-finite values")
    genes = cov["GENE"].astype(str)
    if genes.ne(genes.shift()).sum() != genes.nunique():
        problems.append("a gene's rows are not contiguous (S-PrediXcan refuses such a file)")
    if cov.duplicated().any():
        problems.append("has duplicated rows (S-PrediXcan refuses such a file)")
    return problems
