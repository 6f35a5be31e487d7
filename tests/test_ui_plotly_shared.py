"""The workbench's plotly figures share one plotly.js per page: each figure's ES module is a
small loader, not plotly's 5 MB bundle, and the bundle goes to the browser only when a page
asks for it, as one binary buffer (the browser side is tested in tests/browser)."""

from __future__ import annotations

import plotly
import plotly.graph_objects as go
import pytest
from _ui_sessions import digits_session

from workbench.ui._common import PLOTLY_BUNDLE_REQUEST, asset_path, figure_widget, plotly_bundle
from workbench.ui.panel import DetectorPanel


def plotly_widget_js() -> bytes:
    from pathlib import Path

    return (Path(plotly.__file__).parent / "package_data" / "widgetbundle.js").read_bytes()


def capture(widget) -> list:
    sent = []
    widget.send = lambda msg, buffers=None: sent.append((msg, list(buffers or [])))
    return sent


def test_detectors_tab_figures_carry_the_loader_not_plotly():
    panel = DetectorPanel(digits_session())
    _ = panel.widget
    figures = [panel.histogram, panel.figure]
    assert all(isinstance(f, go.FigureWidget) for f in figures)
    # the loader, after the helper that keeps a slowly started figure's model hearing the kernel
    loader = asset_path("rejoin.js").read_text() + "\n" + asset_path("plotly_figure.js").read_text()
    bundle_size = len(plotly_widget_js())
    assert bundle_size > 1_000_000
    for fig in figures:
        assert fig._esm == loader  # the same small module: no copy of plotly.js per figure
        assert len(fig._esm) < 10_000
        assert PLOTLY_BUNDLE_REQUEST in fig._esm  # the loader asks with the kernel's message type
        assert fig.bundles_sent == 0  # nothing sent until a page asks
    state = figures[0].get_state()
    assert len(state["_esm"]) < 10_000


def test_bundle_sent_once_per_request_as_one_buffer():
    fig = figure_widget(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])))
    sent = capture(fig)
    fig._handle_custom_msg({"type": "something else"}, [])
    fig._handle_custom_msg("not a dict", [])
    assert sent == [] and fig.bundles_sent == 0
    fig._handle_custom_msg({"type": PLOTLY_BUNDLE_REQUEST}, [])
    ((msg, buffers),) = sent
    assert msg == {"type": PLOTLY_BUNDLE_REQUEST}
    assert len(buffers) == 1 and bytes(buffers[0]) == plotly_widget_js()
    assert fig.bundles_sent == 1
    assert plotly_bundle() is plotly_bundle()  # read once per kernel


@pytest.mark.parametrize("n_figures", [2, 5])
def test_each_figure_answers_for_itself(n_figures):
    figures = [figure_widget(go.Figure(go.Bar(y=[i, 1]))) for i in range(n_figures)]
    sent = [capture(f) for f in figures]
    figures[-1]._handle_custom_msg({"type": PLOTLY_BUNDLE_REQUEST}, [])
    assert [len(s) for s in sent] == [0] * (n_figures - 1) + [1]
    assert [f.bundles_sent for f in figures] == [0] * (n_figures - 1) + [1]


def test_a_request_that_comes_while_the_figure_is_being_made_is_answered(monkeypatch):
    """JupyterLab sends widget messages to a kernel subshell, whose thread handled the page's
    request as soon as the figure's comm was open, while the figure's ``__init__`` still ran
    in the main thread: a request answered by a callback registered at the end of ``__init__``
    went unanswered (the Detectors tab waited 5 s for the page to ask again)."""
    import ipywidgets

    opened = ipywidgets.Widget.open
    sent = []

    def open_and_ask(self):
        opened(self)
        if isinstance(self, go.FigureWidget):  # the page asks at once
            self.send = lambda msg, buffers=None: sent.append((msg, list(buffers or [])))
            self._handle_msg(
                {"content": {"data": {"method": "custom", "content": {"type": PLOTLY_BUNDLE_REQUEST}}},
                 "buffers": []}
            )  # fmt: skip

    monkeypatch.setattr(ipywidgets.Widget, "open", open_and_ask)
    fig = figure_widget(go.Figure(go.Bar(y=[1, 2])))
    ((msg, buffers),) = sent
    assert msg == {"type": PLOTLY_BUNDLE_REQUEST} and bytes(buffers[0]) == plotly_widget_js()
    assert fig.bundles_sent == 1
