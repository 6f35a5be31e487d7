"""Benchmark: the embedding map at 1,000,000 points, against plotly Scattergl in a FigureWidget.

Both run in this process on the same session (N = 1,000,000, K = 10); the median of several
runs is reported. What is timed, Python side only (the browser is not involved):

- build: from the session to a widget whose full state is serialised as ipywidgets would send
  it (``get_state`` then ``_remove_buffers``);
- bytes/point: size of that first message (JSON text plus binary buffers, without the
  widget's browser code, reported apart as code_bytes) divided by N;
- selection: a 100,000-point selection arriving as the browser's comm message (JSON text plus
  buffers: jupyter-scatter sends a uint32 buffer, plotly a JSON points event), decoded,
  deserialised and handled until the session's selection listeners have run;
- threshold: ``session.set_threshold("top_k", k)`` until the flagged count and the point
  colours are updated and the update message is serialised (bytes of that message reported
  too); ``threshold_view_s`` is the views' own share, after the session's ranking;
- colour change (map only): switching the colour to a detector score.

Run: ``.venv/bin/python benchmarks/map.py [--n 1000000] [--repeat 3]``. The last line printed
is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def make_session(n: int, k: int = 10, seed: int = 0):
    from workbench.analysis.detectors import DetectorResult
    from workbench.core.dataset import Dataset
    from workbench.session import Session

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centres = rng.normal(scale=6.0, size=(k, 2))
    coords = centres[labels] + rng.normal(size=(n, 2))
    ds = Dataset(labels, class_names=[f"class {i}" for i in range(k)], coords=coords)
    a, b = rng.random(n), rng.gamma(2.0, size=n)
    results = {
        "a": DetectorResult("a", a, a > 0.95, rng.integers(-1, k, n)),
        "b": DetectorResult("b", b, b > 6.0, None),
    }
    return Session(ds, results=results)


class FlagTimer:
    """Times the views' own share of a threshold change: from the moment the session announces
    the new flags (after its ranking) until the last listener has run."""

    def __init__(self, session):
        self.start = self.end = 0.0
        self._first = session.on("flags", self._begin)

    def _begin(self, _session):
        self.start = time.perf_counter()

    def finish(self, session):
        self._last = session.on("flags", self._stop)

    def _stop(self, _session):
        self.end = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def close(self):
        self._first()
        self._last()


class Capture:
    """Stands in for the comm: records the bytes of every message a widget sends."""

    def __init__(self, widget):
        self.bytes = 0
        widget.comm.send = self.send

    def send(self, data=None, metadata=None, buffers=None):
        self.bytes += len(json.dumps(data, default=str))
        self.bytes += sum(memoryview(b).nbytes for b in buffers or [])


def message_bytes(widget) -> tuple[int, int]:
    """Bytes of the widget's first message: (data and options, browser code ``_esm``/``_css``)."""
    from ipywidgets.widgets.widget import _remove_buffers

    state, _, buffers = _remove_buffers(widget.get_state())
    code = sum(len(json.dumps(state.pop(k, ""))) for k in ("_esm", "_css"))
    data = len(json.dumps(state, default=str)) + sum(memoryview(b).nbytes for b in buffers)
    return data, code


def incoming(widget, state: dict, buffer_paths, buffers) -> None:
    """Decode a comm message from its wire form and hand it to the widget."""
    text = json.dumps({"method": "update", "state": state, "buffer_paths": buffer_paths})
    data = json.loads(text)
    widget._handle_msg({"content": {"data": data}, "buffers": buffers})


# --- jupyter-scatter (our map) -------------------------------------------------------------------
def time_thresholds(session, repeat: int, timer, cap, check=None):
    """Time ``repeat`` top-k threshold changes: the session's total, the views' own share
    (``timer``) and the bytes of the update message (``cap``); ``check(top_k)`` verifies the
    view after each. Returns the three lists."""
    threshold, view_share, sent = [], [], []
    for r in range(repeat):
        top = (r + 2) * min(10_000, session.dataset.n_samples // (repeat + 2))  # all < N
        cap.bytes = 0
        t = time.perf_counter()
        session.set_threshold("top_k", top)
        threshold.append(time.perf_counter() - t)
        view_share.append(timer.seconds)
        sent.append(cap.bytes)
        assert check is None or check(top)
    return threshold, view_share, sent


def bench_map(session, repeat: int, n_select: int) -> dict:
    from workbench.ui.map import EmbeddingMap

    n = session.dataset.n_samples
    build, size = [], (0, 0)
    for r in range(repeat + 1):  # the first run only warms up (imports)
        t = time.perf_counter()
        view = EmbeddingMap(session, color_by="given label")
        _ = view.widget
        size = message_bytes(view.scatter.widget)
        if r:
            build.append(time.perf_counter() - t)
        view.close()
    timer = FlagTimer(session)
    view = EmbeddingMap(session, color_by="flagged")
    _ = view.widget
    timer.finish(session)
    widget = view.scatter.widget
    cap = Capture(widget)

    done = {}
    unsubscribe = session.on("selection", lambda s: done.setdefault("t", time.perf_counter()))
    rng = np.random.default_rng(1)
    select = []
    for _ in range(repeat):
        idx = np.sort(rng.choice(n, n_select, replace=False)).astype(np.uint32)
        session.clear_selection(source="benchmark")  # so the same selection again is a change
        done.clear()
        t = time.perf_counter()
        incoming(
            widget,
            {"selection": {"dtype": "uint32", "shape": [n_select]}},
            [["selection", "view"]],
            [memoryview(idx.tobytes())],
        )
        select.append(done["t"] - t)
        assert session.selection.size == n_select and session.selection_source == "map"
    unsubscribe()

    threshold, view_share, sent = time_thresholds(
        session, repeat, timer, cap,
        check=lambda top: int(np.asarray(widget.points)[:, 2].sum()) == top,
    )  # fmt: skip
    timer.close()
    colour = []
    for r in range(repeat):
        t = time.perf_counter()
        view.set_color_by("score: b" if r % 2 == 0 else "flagged")
        colour.append(time.perf_counter() - t)
    view.close()
    session.set_threshold("default")
    return {
        "build_s": statistics.median(build),
        "bytes_per_point": size[0] / n,
        "code_bytes": size[1],
        "selection_100k_s": statistics.median(select),
        "threshold_s": statistics.median(threshold),
        "threshold_view_s": statistics.median(view_share),
        "threshold_bytes_per_point": statistics.median(sent) / n,
        "color_change_s": statistics.median(colour),
    }


# --- plotly Scattergl in a FigureWidget ---------------------------------------------------------
def bench_plotly(session, repeat: int, n_select: int) -> dict:
    import plotly.graph_objects as go

    ds = session.dataset
    n = ds.n_samples

    def build_fig():
        fig = go.FigureWidget(
            [
                go.Scattergl(
                    x=ds.coords[:, 0],
                    y=ds.coords[:, 1],
                    mode="markers",
                    marker=dict(size=2, color=ds.labels, colorscale="Viridis"),
                )
            ],
            layout=dict(dragmode="lasso"),
        )
        fig.data[0].on_selection(
            lambda tr, pts, sel: session.select(pts.point_inds, source="plotly")
        )
        return fig

    build, size = [], (0, 0)
    for r in range(repeat + 1):  # the first run only warms up (imports)
        t = time.perf_counter()
        fig = build_fig()
        size = message_bytes(fig)
        if r:
            build.append(time.perf_counter() - t)
        fig.close()
    fig = build_fig()
    cap = Capture(fig)

    def recolour(s):
        fig.data[0].marker.color = s.flags.astype(np.int8)
        fig.layout.title = f"{int(s.flags.sum()):,} flagged"

    timer = FlagTimer(session)
    unsub_flags = session.on("flags", recolour)
    timer.finish(session)
    done = {}
    unsub_sel = session.on("selection", lambda s: done.setdefault("t", time.perf_counter()))
    rng = np.random.default_rng(1)
    select = []
    for _ in range(repeat):
        idx = np.sort(rng.choice(n, n_select, replace=False))
        event = {
            "event_type": "plotly_selected",
            "points": {
                "trace_indexes": [0] * n_select,
                "point_indexes": idx.tolist(),
                "xs": ds.coords[idx, 0].astype(float).tolist(),
                "ys": ds.coords[idx, 1].astype(float).tolist(),
            },
            "selector": {"type": "lasso", "selector_state": {"xs": [0, 1, 1], "ys": [0, 0, 1]}},
        }
        session.clear_selection(source="benchmark")
        done.clear()
        t = time.perf_counter()
        incoming(fig, {"_js2py_pointsCallback": event}, [], [])
        select.append(done["t"] - t)
        assert session.selection.size == n_select and session.selection_source == "plotly"
    unsub_sel()

    threshold, view_share, sent = time_thresholds(session, repeat, timer, cap)
    timer.close()
    unsub_flags()
    fig.close()
    session.set_threshold("default")
    return {
        "build_s": statistics.median(build),
        "bytes_per_point": size[0] / n,
        "code_bytes": size[1],
        "selection_100k_s": statistics.median(select),
        "threshold_s": statistics.median(threshold),
        "threshold_view_s": statistics.median(view_share),
        "threshold_bytes_per_point": statistics.median(sent) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--select", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    t = time.perf_counter()
    session = make_session(args.n)
    print(f"session with N={args.n:,}: {time.perf_counter() - t:.2f} s")
    ours = bench_map(session, args.repeat, args.select)
    print("jupyter-scatter map:", json.dumps(ours))
    ref = bench_plotly(session, args.repeat, args.select)
    print("plotly Scattergl FigureWidget:", json.dumps(ref))
    ratios = {
        key: ref[key] / ours[key]
        for key in (
            "build_s",
            "bytes_per_point",
            "selection_100k_s",
            "threshold_s",
            "threshold_view_s",
            "threshold_bytes_per_point",
        )
        if ours[key] > 0
    }
    print(
        json.dumps(
            {
                "n": args.n,
                "n_select": args.select,
                "repeat": args.repeat,
                "map_jscatter": ours,
                "plotly_scattergl": ref,
                "plotly_over_map": ratios,
            }
        )
    )


if __name__ == "__main__":
    main()
