"""The workbench's anywidgets tell the page their model's id (``_page_model_id``), so that a
model anywidget gave up on after a slow start can take the kernel's messages directly
(``widgets/rejoin.js``; the page side is tested in tests/browser/test_slow_start_in_lab.py)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from workbench.ui._common import asset_path, figure_widget, widget_module
from workbench.ui.grid import GridWidget
from workbench.ui.multilabel import LabelSetQueueWidget
from workbench.ui.queue import QueueWidget


@pytest.mark.parametrize(
    "make", [GridWidget, QueueWidget, LabelSetQueueWidget, lambda: figure_widget(go.Figure())]
)
def test_the_opening_state_names_the_model_and_the_module_rejoins(make):
    w = make()
    assert w._page_model_id == w.model_id != ""
    assert w.get_state()["_page_model_id"] == w.model_id  # in the state the comm opens with
    assert "rejoinIfDropped(model)" in w._esm  # called from the module's initialize
    assert w._esm.count("function rejoinIfDropped(") == 1


def test_each_widget_its_own_id_and_a_given_id_kept():
    a, b = GridWidget(), GridWidget()
    assert a._page_model_id != b._page_model_id
    c = GridWidget(model_id="given-id")
    assert c.model_id == c._page_model_id == "given-id"


def test_the_helper_comes_before_the_widget_code():
    esm = widget_module("grid.js")
    rejoin = asset_path("rejoin.js").read_text()
    assert rejoin in esm and esm.index(rejoin) < esm.index("export default")
