"""A tab whose view takes a while to build says so at once (the Detectors tab took 5-7 s at a
million samples with nothing on screen)."""

from __future__ import annotations

import pytest
from _ui_sessions import browser_update, digits_session

pytest.importorskip("plotly")

from workbench.ui import Workbench  # noqa: E402


def test_a_tab_shows_what_it_builds_before_the_view_arrives():
    wb = Workbench(digits_session())
    assert wb.widget is not None
    position = list(wb.tabs.titles).index("Matrices")
    box = wb.tabs.children[position]
    seen = []
    box.observe(lambda change: seen.append(change["new"]), names="children")
    browser_update(wb.tabs, {"selected_index": position})  # the user clicks the tab
    assert len(seen) == 2
    (building,), (view,) = seen
    assert "Building the Matrices view for" in building.value
    assert f"{wb.session.dataset.n_samples:,} samples" in building.value
    assert "fa-spin" in building.value  # moves while the kernel works
    assert view is wb.views["Matrices"].widget
    assert box.children == (view,)
    assert "Matrices" in wb.built


def test_a_view_that_fails_to_build_leaves_no_message_behind(monkeypatch):
    wb = Workbench(digits_session())
    assert wb.widget is not None
    panel = wb.views["Matrices"]

    def fail():
        raise RuntimeError("out of memory")

    monkeypatch.setattr(panel, "_build", fail)
    position = list(wb.tabs.titles).index("Matrices")
    with pytest.raises(RuntimeError, match="out of memory"):
        wb._fill(position)
    assert wb.tabs.children[position].children == ()
    assert "Matrices" not in wb.built
