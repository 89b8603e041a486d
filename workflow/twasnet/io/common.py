"""Small checks shared by the readers."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def duplicated_ids(ids: Sequence[str]) -> list[str]:
    """Ids that occur more than once, each listed once, in order of first repetition."""
    index = pd.Index(list(ids))
    return index[index.duplicated()].unique().tolist()
