"""Helpers of the matrix-view tests: clicks on the figure as the browser reports them, and the
figure's traces by panel name."""

from __future__ import annotations


def plotly_click(fig, trace_index, point_index, x, y):
    """A click on point ``point_index`` of trace ``trace_index`` at (``x``, ``y``), as plotly.js
    reports it to the kernel."""
    fig._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {
            "trace_indexes": [trace_index],
            "point_indexes": [point_index],
            "xs": [x],
            "ys": [y],
        },
        "device_state": None,
    }


def click(fig, trace_index, row, col):
    """A click on heatmap cell (row, col), as the browser reports it."""
    plotly_click(fig, trace_index, [row, col], col, row)


def heat(view, panel):
    """The heatmap trace of ``panel`` ("confusion", "estimated", "hoc", "true")."""
    return next(t for t in view.figure.data if t.name == panel)


def dots(view, panel):
    """The selection overlay of ``panel``: one marker per cell that holds selected samples."""
    return next(t for t in view.figure.data if t.name == f"{panel}:selection")


def trace_index(view, panel, overlay=False):
    """Position of ``panel``'s heatmap (or its selection overlay) among the figure's traces."""
    name = f"{panel}:selection" if overlay else panel
    return [t.name for t in view.figure.data].index(name)
