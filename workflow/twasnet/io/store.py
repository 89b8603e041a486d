"""twasnet's own on-disk formats: atomic writes, tables, JSON records, per-chromosome cis stores.

The cis store of one chromosome is a directory with
- ``dosages.npy``: float32 (n_variants, n_samples), variants in genomic order, samples in the
  order of the cohort's ``samples.tsv``; memory-mapped so a gene reads only its rows;
- ``variants.parquet``: one row per variant (chrom, pos, variant_id, ref, alt, alt_freq, maf, ...,
  ``annot_*`` annotation columns);
- ``genes.tsv``: gene_id, chrom, tss, first, stop, n_variants — the gene's window is rows
  ``first:stop`` of the two files above (a contiguous slice, since windows are intervals).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from twasnet.errors import OutputWriteError

ANNOTATION_PREFIX = "annot_"


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc/self/status);
    elsewhere set and restored at once."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file: 0o666 less the umask (0o644 under
    umask 022), where ``tempfile.mkstemp`` gives 0o600 whatever the umask."""
    return 0o666 & ~current_umask()


# errno values of a write that ran out of room: disk full, quota exceeded, file too large.
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The file published has the mode the user's umask allows (:func:`default_file_mode`), not the
    temporary file's private 0o600, so results are as readable as any file the user writes.
    A write that runs out of room (disk or quota full; also a short write, which numpy and
    pyarrow report without an errno) raises :class:`OutputWriteError` naming ``path``; nothing is
    left at ``path`` nor beside it."""
    path = Path(path)
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, default_file_mode())
        os.replace(tmp_path, path)
    except (OSError, sqlite3.OperationalError) as err:
        if not _out_of_room(err):
            raise
        error = OutputWriteError(
            f"Could not write {str(path)!r} ({type(err).__name__}: {err}): the disk (or your "
            f"quota) may be full where it goes. Free space in {str(path.parent)!r} (`df -h "
            f"{path.parent}`) or move the work directory to a larger disk, then rerun; nothing "
            "was written to that path."
        )
        error.errno = getattr(err, "errno", None)
        raise error from err
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def _out_of_room(err: BaseException) -> bool:
    if isinstance(err, OutputWriteError):
        return False  # an inner atomic_output already said so
    if isinstance(err, sqlite3.OperationalError):
        return "disk is full" in str(err)  # SQLITE_FULL: "database or disk is full"
    return err.errno in _NO_ROOM or (err.errno is None and type(err) is OSError)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table atomically: parquet for ``.parquet``, else tab-separated text."""
    path = Path(path)
    with atomic_output(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, sep="\t", index=False, float_format="%.6g", na_rep="NA")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table`."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t", keep_default_na=True, na_values=["NA"])


def write_json(record: dict, path: str | Path) -> None:
    """Write a JSON document atomically with sorted keys (stable bytes for stable content)."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_artefact(artefact: dict, path: str | Path) -> None:
    """Write a model artefact atomically: ``torch.save`` for ``.pt`` paths, JSON otherwise."""
    path = Path(path)
    if path.suffix == ".pt":
        import torch

        with atomic_output(path) as tmp:
            torch.save(artefact, tmp)
    else:
        write_json(artefact, path)


def read_artefact(path: str | Path) -> dict:
    """Read an artefact written by :func:`write_artefact` (on the CPU)."""
    path = Path(path)
    if path.suffix == ".pt":
        import torch

        return torch.load(path, map_location="cpu", weights_only=False)
    return read_json(path)


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_cis_store(
    directory: str | Path,
    *,
    dosages: np.ndarray,
    variants: pd.DataFrame,
    genes: pd.DataFrame,
) -> None:
    """Write one chromosome's cis store (see the module docstring for the layout)."""
    directory = Path(directory)
    if dosages.shape[0] != len(variants):
        raise ValueError(f"{dosages.shape[0]} dosage rows but {len(variants)} variants")
    with atomic_output(directory / "dosages.npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(dosages, dtype=np.float32))
    write_table(variants.reset_index(drop=True), directory / "variants.parquet")
    write_table(genes.reset_index(drop=True), directory / "genes.tsv")


@dataclass(frozen=True)
class GeneData:
    """Everything stored for one gene's cis window.

    ``dosages`` is (n_samples, n_variants) float32 in cohort sample order; ``variants`` has
    n_variants rows (with the ``annot_*`` annotation columns, if any).
    """

    gene_id: str
    chrom: str
    tss: int
    dosages: np.ndarray
    variants: pd.DataFrame


def gene_loader(directory: str | Path) -> Callable[[str], GeneData]:
    """A function gene_id -> GeneData over one chromosome's cis store, which reads the store's
    gene and variant tables once (for a job that fits many genes of the chromosome)."""
    directory = Path(directory)
    genes = pd.read_csv(directory / "genes.tsv", sep="\t", dtype={"gene_id": str, "chrom": str})
    genes = genes.set_index("gene_id")
    matrix = np.load(directory / "dosages.npy", mmap_mode="r")
    all_variants = pd.read_parquet(directory / "variants.parquet")

    def load(gene_id: str) -> GeneData:
        if gene_id not in genes.index:
            raise KeyError(f"gene {gene_id} is not in the cis store {directory}")
        row = genes.loc[gene_id]
        first, stop = int(row["first"]), int(row["stop"])
        return GeneData(
            gene_id=gene_id,
            chrom=str(row["chrom"]),
            tss=int(row["tss"]),
            dosages=np.array(matrix[first:stop].T, dtype=np.float32),
            variants=all_variants.iloc[first:stop].reset_index(drop=True).copy(),
        )

    return load


def stores_loader(store_dirs: Sequence[str | Path]) -> Callable[[str, str], GeneData]:
    """A function (chrom, gene_id) -> GeneData over the cis stores ``store_dirs`` (one per
    chromosome, each directory named by its chromosome), each store's :func:`gene_loader` made
    when first needed."""
    store_of = {Path(d).name: d for d in store_dirs}
    loaders: dict[str, Callable[[str], GeneData]] = {}

    def load(chrom: str, gene_id: str) -> GeneData:
        chrom = str(chrom)
        if chrom not in loaders:
            loaders[chrom] = gene_loader(store_of[chrom])
        return loaders[chrom](gene_id)

    return load


# The files of one gene's fit, as named in a training chunk's table (one row per gene).
FIT_FILES = ("record", "predictions", "importance", "artefact")


def chunk_fit_paths(chunk_tables: Sequence[str | Path], kind: str) -> list[str]:
    """The ``kind`` file (one of :data:`FIT_FILES`) of every gene listed in the training chunks'
    tables (``results/chunks/...``), in the order of the tables and their rows."""
    if kind not in FIT_FILES:
        raise ValueError(f"kind must be one of {FIT_FILES}, not {kind!r}")
    return [
        path
        for table in chunk_tables
        for path in pd.read_csv(table, sep="\t", usecols=[kind], dtype=str)[kind]
    ]


def fit_key(path: str | Path) -> tuple[str, str, int]:
    """(gene, model, split) of a fit path ``.../fits/<model>/[<shard>/]<gene>.split<r>.<kind>``.

    The model is the directory right under the last ``fits``; whatever sharding lies below it
    (``FIT_STEM`` in workflow/rules/common.smk decides) does not matter here.
    """
    parts = Path(path).parts
    gene_id, _, rest = parts[-1].rpartition(".split")
    model = parts[len(parts) - 1 - parts[::-1].index("fits") + 1]
    return gene_id, model, int(rest.split(".")[0])
