"""Session.select: sorted, unique int64 indices whatever the order, repeats and size of the
input (a lasso of 100,000 points or "select all" from the map takes a fast path)."""

from __future__ import annotations

import numpy as np
import pytest
from _ui_sessions import digits_session


@pytest.mark.parametrize("size", [0, 1, 5, 60, 900, 5_000])
def test_select_sorts_and_drops_repeats_at_any_size(size):
    s = digits_session()
    n = s.dataset.n_samples
    rng = np.random.default_rng(size)
    idx = rng.integers(0, n, size)  # repeats, unsorted; 900 and 5,000 take the mask path
    s.select(idx.astype(np.uint32), source="test")
    assert s.selection.dtype == np.int64
    np.testing.assert_array_equal(s.selection, np.unique(idx))


def test_a_sorted_selection_is_copied_not_shared():
    s = digits_session()
    idx = np.arange(0, 1_000, 3, dtype=np.int64)
    seen = []
    s.on("selection", lambda session: seen.append(session.selection.size))
    s.select(idx, source="test")
    idx[:] = 0  # the caller reuses its array
    np.testing.assert_array_equal(s.selection, np.arange(0, 1_000, 3))
    s.select(np.arange(0, 1_000, 3)[::-1], source="test")  # the same set: no new event
    assert seen == [334]


def test_select_refuses_indices_out_of_range():
    s = digits_session()
    with pytest.raises(ValueError, match="selection indices must lie in"):
        s.select([0, s.dataset.n_samples], source="test")
