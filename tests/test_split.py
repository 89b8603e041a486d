import numpy as np
import pandas as pd
import pytest

from twasnet.split import split_indices, split_individuals

SAMPLES = [f"S{i:03d}" for i in range(200)]


def test_train_and_test_are_disjoint_and_cover_everyone():
    split = split_individuals(SAMPLES, seed=1, test_fraction=0.2, n_folds=5)
    train = set(split.loc[split["set"] == "train", "sample"])
    test = set(split.loc[split["set"] == "test", "sample"])
    assert not train & test
    assert train | test == set(SAMPLES)
    assert len(test) == 40


def test_same_seed_same_split_other_seed_other_split():
    a = split_individuals(SAMPLES, seed=7, n_folds=5)
    b = split_individuals(SAMPLES, seed=7, n_folds=5)
    c = split_individuals(SAMPLES, seed=8, n_folds=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a["set"].equals(c["set"])


def test_folds_are_balanced_and_only_among_training():
    split = split_individuals(SAMPLES, seed=3, test_fraction=0.25, n_folds=10)
    train = split[split["set"] == "train"]
    sizes = train["fold"].value_counts()
    assert sorted(sizes.index) == list(range(10))
    assert sizes.max() - sizes.min() <= 1
    assert (split.loc[split["set"] == "test", "fold"] == -1).all()


def test_adding_repeats_keeps_earlier_repeats():
    one = split_individuals(SAMPLES, seed=5, n_folds=5, n_repeats=1)
    three = split_individuals(SAMPLES, seed=5, n_folds=5, n_repeats=3)
    pd.testing.assert_frame_equal(one, three[three["repeat"] == 0].reset_index(drop=True))
    assert not three.loc[three["repeat"] == 1, "set"].reset_index(drop=True).equals(one["set"])


def test_split_indices_follow_the_order_of_the_samples_asked_for():
    split = split_individuals(SAMPLES, seed=2, n_folds=5)
    reordered = SAMPLES[::-1]
    train_idx, test_idx, folds = split_indices(split, reordered, repeat=0)
    by_sample = split.set_index("sample")
    assert all(by_sample.loc[reordered[i], "set"] == "test" for i in test_idx)
    assert [by_sample.loc[reordered[i], "fold"] for i in train_idx] == list(folds)
    assert len(np.intersect1d(train_idx, test_idx)) == 0


def test_impossible_split_is_a_clear_error():
    with pytest.raises(ValueError, match="inner folds"):
        split_individuals(SAMPLES[:20], seed=1, n_folds=10)
