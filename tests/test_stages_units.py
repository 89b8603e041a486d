import numpy as np
import pytest

from twasnet.adjust import residualise
from twasnet.io.store import atomic_output
from twasnet.stages.data import merge_windows


def test_merge_windows_joins_overlapping_windows_only():
    assert merge_windows(np.array([1000, 1500, 10_000]), 300) == [(700, 1800), (9700, 10_300)]
    assert merge_windows(np.array([100]), 500) == [(1, 600)]


def test_residualise_uses_training_rows_only():
    rng = np.random.default_rng(1)
    cov = rng.standard_normal((40, 2))
    y = cov @ np.array([1.0, -2.0]) + rng.standard_normal(40)
    train = np.arange(30)
    base = residualise(y, cov, train_idx=train)
    y_changed = y.copy()
    y_changed[30:] += 100.0  # held-out values change
    changed = residualise(y_changed, cov, train_idx=train)
    np.testing.assert_array_equal(base[:30], changed[:30])
    np.testing.assert_allclose(changed[30:] - base[30:], 100.0)


def test_atomic_output_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "table.tsv"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done"
