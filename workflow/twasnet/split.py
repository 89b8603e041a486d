"""The one split of individuals into training (with inner CV folds) and held-out test sets.

Every gene and every model of a run uses the same partition, so held-out R² values are paired.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

TRAIN = "train"
TEST = "test"


def split_individuals(
    samples: Sequence[str],
    *,
    seed: int,
    test_fraction: float = 0.2,
    n_folds: int = 10,
    n_repeats: int = 1,
) -> pd.DataFrame:
    """Partition ``samples`` into training and held-out sets, ``n_repeats`` times.

    Repeat ``r`` is drawn from ``numpy.random.default_rng([seed, r])``, so adding repeats never
    changes earlier ones. Training individuals are dealt into ``n_folds`` inner folds of sizes that
    differ by at most one.

    Returns a long table with one row per sample and repeat: ``sample``, ``repeat`` (int),
    ``set`` (``"train"``/``"test"``) and ``fold`` (0..n_folds-1 for training, -1 for test), in the
    order of ``samples`` within each repeat.
    """
    samples = list(samples)
    n = len(samples)
    if len(set(samples)) != n:
        raise ValueError("split_individuals: sample ids must be unique")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n_test = int(round(n * test_fraction))
    n_train = n - n_test
    if n_test < 2 or n_train < 2 * n_folds:
        raise ValueError(
            f"cannot split {n} individuals into a test set of {n_test} and {n_folds} inner folds: "
            "lower split.test_fraction or split.inner_folds, or add individuals"
        )
    frames = []
    for repeat in range(n_repeats):
        rng = np.random.default_rng([seed, repeat])
        order = rng.permutation(n)
        is_test = np.zeros(n, dtype=bool)
        is_test[order[:n_test]] = True
        fold = np.full(n, -1, dtype=np.int64)
        train_idx = order[n_test:]
        fold[train_idx] = np.arange(n_train) % n_folds
        frames.append(
            pd.DataFrame(
                {
                    "sample": samples,
                    "repeat": repeat,
                    "set": np.where(is_test, TEST, TRAIN),
                    "fold": fold,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def split_indices(
    split: pd.DataFrame, samples: Sequence[str], *, repeat: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of training and test individuals within ``samples`` for one repeat.

    Returns ``(train_idx, test_idx, train_folds)``: integer index arrays into ``samples`` and the
    inner-fold label (n_train,) of each training individual.
    """
    part = split[split["repeat"] == repeat].set_index("sample")
    missing = [s for s in samples if s not in part.index]
    if missing:
        raise ValueError(f"{len(missing)} samples are not in the split, e.g. {missing[:3]}")
    sets = part.loc[list(samples), "set"].to_numpy()
    folds = part.loc[list(samples), "fold"].to_numpy()
    train_idx = np.flatnonzero(sets == TRAIN)
    test_idx = np.flatnonzero(sets == TEST)
    return train_idx, test_idx, folds[train_idx].astype(np.int64)
