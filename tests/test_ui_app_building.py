"""A tab whose view takes a while to build says so at once (the Detectors tab took 5-7 s at a
million samples with nothing on screen)."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from _ui_sessions import browser_update, digits_session

pytest.importorskip("plotly")

from workbench.session import Session  # noqa: E402
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


def _with_map():
    """Digits with coordinates: the map is the first tab, the Detectors tab is not built."""
    base = digits_session()
    coords = np.random.default_rng(3).normal(size=(base.dataset.n_samples, 2))
    return Session(base.dataset.with_signals(coords=coords), results=base.results)


def test_the_detectors_tab_is_prepared_while_the_first_tab_shows(monkeypatch):
    """Shown, the workbench prepares in the background what the Detectors tab needs (at a
    million samples its first opening took 5-22 s, most of it plotly's first import): opened
    afterwards, the tab computes none of it again."""
    import workbench.analysis.metrics as metrics

    wb = Workbench(_with_map())
    assert wb.preparing is None  # nothing runs before the workbench is shown
    assert wb.widget is not None
    assert wb.built == ["Map"]
    wb.preparing.join()
    assert "plotly.graph_objs._figurewidget" in sys.modules
    calls = []
    for name in ("average_precision", "pr_curve"):
        real = getattr(metrics, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(metrics, name, counted)
    wb.select_tab("Detectors")
    assert "Detectors" in wb.built
    assert calls == []  # every curve and average precision came from the prepared cache
    assert len(wb.panel.figure.data) >= len(wb.session.results)


def test_a_failed_preparation_leaves_the_error_to_the_tab(monkeypatch):
    import workbench.analysis.metrics as metrics

    real = metrics.pr_curve

    def fails_in_the_background(*args, **kwargs):
        if threading.current_thread().name == "workbench-prepare":
            raise MemoryError("no memory for the curve")
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "pr_curve", fails_in_the_background)
    wb = Workbench(_with_map())
    assert wb.widget is not None
    wb.preparing.join()  # nothing escaped the thread
    wb.select_tab("Detectors")  # the tab computes the curves itself
    assert "Detectors" in wb.built
    assert len(wb.panel.figure.data) >= len(wb.session.results)
