"""Review queue: built without a browser, driven by the trait changes and messages a browser
sends (keys, buttons, paging), asserting the rows it serves and the decisions it records."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _ui_sessions import browser_send, browser_update, digits_session, text_session

from workbench.analysis.detectors import DetectorResult
from workbench.core.dataset import Dataset
from workbench.session import Session
from workbench.ui._common import widget_module
from workbench.ui.queue import ReviewQueue, keymap

WIDGETS = Path(__file__).resolve().parents[1] / "widgets"


@pytest.fixture
def session():
    return digits_session()


@pytest.fixture
def queue(session):
    return ReviewQueue(session, page_size=10)


def test_queue_holds_flagged_sorted_by_score(session, queue):
    w = queue.widget
    flagged = np.flatnonzero(session.flags)
    assert w.total == len(flagged) > 10
    assert sorted(queue.items.tolist()) == flagged.tolist()
    scores = session.result.scores[queue.items]
    assert np.all(np.diff(scores) <= 0)  # most suspicious first
    assert [r["index"] for r in w.rows] == queue.items[:10].tolist()
    assert "Flagged by strong" in w.title and f"{w.total}" in w.title


def test_row_content(session, queue):
    row = queue.widget.rows[0]
    i = row["index"]
    ds = session.dataset
    assert row["position"] == 0
    assert row["preview_kind"] == "image" and row["preview"].startswith("data:image/png;base64,")
    assert row["given"] == ds.class_names[ds.labels[i]]
    assert row["given_code"] == ds.labels[i]
    sug = session.results["strong"].suggested_labels[i]
    assert row["suggested_code"] == sug
    assert row["true"] == ds.class_names[ds.true_labels[i]]
    by_name = {s["detector"]: s for s in row["scores"]}
    assert set(by_name) == {"strong", "weak"}
    assert by_name["weak"]["score"] == pytest.approx(session.results["weak"].scores[i])
    assert by_name["strong"]["flagged"] is True
    assert row["decision"] == ""
    json.dumps(queue.widget.rows)  # everything crosses to the browser as plain JSON


def test_row_carries_the_active_score_and_how_many_detectors_flag(session, queue):
    rows = queue.widget.rows
    for row in rows:
        i = row["index"]
        assert row["active_detector"] == session.active == "strong"
        assert row["active_score"] == pytest.approx(session.results["strong"].scores[i])
        assert row["active_flagged"] is bool(session.flags[i]) is True  # the queue holds flags
        expected = int(session.flags[i]) + int(session.results["weak"].flags[i])
        assert row["n_flagged"] == expected and row["n_detectors"] == 2
        assert row["n_flagged"] == sum(s["flagged"] for s in row["scores"])  # the detail agrees
    assert {r["n_flagged"] for r in rows} <= {1, 2}
    # the active detector's threshold, not its default rule, decides its own flag
    session.set_threshold("top_k", 3)
    first = queue.widget.rows[0]
    assert first["n_flagged"] == 1 + int(session.results["weak"].flags[first["index"]])
    session.set_detector("weak")
    row = queue.widget.rows[0]
    assert row["active_detector"] == "weak"
    assert row["active_score"] == pytest.approx(session.results["weak"].scores[row["index"]])


def test_ambiguity_scores_are_shown_but_do_not_vote(session):
    from workbench.analysis.detectors import detector_kind

    assert detector_kind("datamap_variability") == "ambiguity"
    ds = session.dataset
    amb = np.ones(ds.n_samples)
    results = {
        **session.results,
        "datamap_variability": DetectorResult("datamap_variability", amb, amb > 0),
    }
    q = ReviewQueue(Session(ds, results=results), page_size=5)
    for row in q.widget.rows:
        i = row["index"]
        assert row["n_detectors"] == 2  # strong and weak; the ambiguity score flags all
        assert row["n_flagged"] == 1 + int(session.results["weak"].flags[i])
        by_name = {sc["detector"]: sc for sc in row["scores"]}
        assert by_name["datamap_variability"] == {
            "detector": "datamap_variability", "score": 1.0, "flagged": True, "votes": False,
        }  # fmt: skip
        assert by_name["strong"]["votes"] and by_name["weak"]["votes"]


def test_text_previews_and_no_previews():
    q = ReviewQueue(text_session())
    row = q.widget.rows[0]
    assert row["preview_kind"] == "text" and "<topic" in row["preview"]
    q2 = ReviewQueue(digits_session(previews=False, truth=False))
    row2 = q2.widget.rows[0]
    assert row2["preview_kind"] == "none" and "true" not in row2


def test_queue_from_dataset_wraps_a_session():
    d = digits_session()
    q = ReviewQueue(d.dataset, results=d.results)
    assert q.widget.total == int(d.flags.sum())
    with pytest.raises(ValueError, match="page_size"):
        ReviewQueue(d, page_size=0)
    with pytest.raises(TypeError, match="only apply when a Dataset"):
        ReviewQueue(d, results=d.results)


def test_selection_propagates_to_queue(session, queue):
    w = queue.widget
    chosen = [3, 50, 700, 1200]
    session.select(chosen, source="map")
    assert w.total == 4 and w.cursor == 0 and w.page == 0
    assert sorted(r["index"] for r in w.rows) == chosen
    order = [r["index"] for r in w.rows]
    assert order == sorted(chosen, key=lambda i: -session.result.scores[i])
    assert w.title.startswith("Selection: 4")
    session.clear_selection()
    assert w.total == int(session.flags.sum())


def test_threshold_and_detector_change_refill_queue(session, queue):
    w = queue.widget
    session.set_threshold("top_k", 7)
    assert w.total == 7 and "top 7" in w.title
    session.set_detector("weak")
    assert w.active == "weak" and w.total == 7
    assert queue.items.tolist() == session.results["weak"].top_k(7).tolist()


def test_key_press_decides_and_advances(session, queue):
    w = queue.widget
    first, second, third = queue.items[:3].tolist()
    browser_send(w, {"type": "key", "key": "x", "ctrl": False, "meta": False})
    assert w.cursor == 1
    cur = session.decisions.current().set_index("index")
    assert cur.loc[first, "action"] == "remove"
    assert cur.loc[first, "detector"] == "strong"
    assert cur.loc[first, "threshold"] == "default"
    assert cur.loc[first, "score"] == pytest.approx(session.result.scores[first])
    assert w.rows[0]["decision"] == "remove"  # the page on screen shows it
    browser_send(w, {"type": "key", "key": "3"})
    browser_send(w, {"type": "key", "key": "?"})
    cur = session.decisions.current().set_index("index")
    assert cur.loc[second, "action"] == "relabel" and cur.loc[second, "label"] == 3
    assert cur.loc[third, "action"] == "needs_review"
    assert w.rows[1]["decision_label"] == "3"
    assert w.cursor == 3 and w.counts["remove"] == 1 and w.can_undo
    browser_send(w, {"type": "key", "key": "z", "ctrl": True})  # Ctrl-Z
    assert session.decisions.current()["index"].tolist() == sorted([first, second])
    browser_send(w, {"type": "key", "key": "u"})
    browser_send(w, {"type": "key", "key": "u"})
    assert len(session.decisions.current()) == 0 and not w.can_undo
    browser_send(w, {"type": "key", "key": "u"})
    assert w.message == "Nothing to undo."


def test_keep_and_suggested_keys(session, queue):
    w = queue.widget
    items = queue.items
    with_sug = [p for p, i in enumerate(items[:10]) if session.result.suggested_labels[i] >= 0]
    without = [p for p, i in enumerate(items[:10]) if session.result.suggested_labels[i] < 0]
    browser_update(w, {"cursor": with_sug[0]})
    assert queue.press("s")
    i = int(items[with_sug[0]])
    cur = session.decisions.current().set_index("index")
    assert cur.loc[i, "label"] == session.result.suggested_labels[i]
    if without:
        browser_update(w, {"cursor": without[0]})
        n = len(session.decisions.log)
        queue.press("s")
        assert "no suggested label" in w.message and len(session.decisions.log) == n
    browser_update(w, {"cursor": 0})
    queue.press("Enter")
    assert session.decisions.current().set_index("index").loc[items[0], "action"] == "keep"
    assert not queue.press("F5")  # not ours: left to the browser


def test_navigation_keys_cross_pages(queue):
    w = queue.widget
    for _ in range(10):
        queue.press("j")
    assert w.cursor == 10 and w.page == 1
    assert w.rows[0]["position"] == 10
    queue.press("k")
    assert w.cursor == 9 and w.page == 0
    queue.press("PageDown")
    assert w.cursor == 19 and w.page == 1
    queue.press("End")
    assert w.cursor == w.total - 1 and w.page == (w.total - 1) // 10
    queue.press("ArrowDown")
    assert w.cursor == w.total - 1  # clamped at the end
    queue.press("Home")
    assert w.cursor == 0 and w.page == 0


def test_browser_paging_serves_only_that_page(queue):
    w = queue.widget
    browser_update(w, {"page": 2})
    assert [r["position"] for r in w.rows] == list(range(20, 30))
    assert w.cursor == 20  # the cursor moves onto the page shown
    browser_update(w, {"cursor": 5})
    assert w.page == 0 and w.rows[0]["position"] == 0
    browser_update(w, {"page": 999})
    assert w.page == (w.total - 1) // 10
    browser_update(w, {"cursor": -4})
    assert w.cursor == 0
    browser_update(w, {"page_size": 25})
    assert len(w.rows) == 25
    browser_update(w, {"page_size": 100000})
    assert w.page_size == 25


def test_button_messages(session, queue):
    w = queue.widget
    i = int(queue.items[4])
    browser_send(w, {"type": "decide", "action": "relabel", "label": 7, "position": 4})
    assert session.decisions.current().set_index("index").loc[i, "label"] == 7
    browser_send(w, {"type": "decide", "action": "relabel", "label": 42, "position": 5})
    assert "label must lie in 0..9" in w.message
    browser_send(w, {"type": "decide", "action": "burn", "position": 5})  # ignored
    browser_send(w, {"type": "decide", "action": "keep", "position": 10**6})
    assert "No row at position" in w.message
    browser_send(w, {"nonsense": True})
    assert len(session.decisions.current()) == 1


def test_bulk_decide_and_undo(session, queue):
    w = queue.widget
    chosen = np.arange(100, 160)
    session.select(chosen, source="map")
    browser_send(w, {"type": "bulk", "action": "remove", "label": None})
    assert session.decisions.counts()["remove"] == 60
    assert session.decisions.remove_mask()[chosen].all()
    assert all(r["decision"] == "remove" for r in w.rows)
    assert "60 samples" in w.message
    browser_send(w, {"type": "undo"})
    assert session.decisions.counts()["remove"] == 0  # one step undoes all 60
    browser_send(w, {"type": "bulk", "action": "relabel", "label": "suggested"})
    sug = session.result.suggested_labels[chosen]
    rel = session.decisions.relabels()
    assert rel["index"].tolist() == chosen[sug >= 0].tolist()
    assert rel["label"].tolist() == sug[sug >= 0].tolist()
    session.select([], source="map")
    session.set_threshold("top_k", 0)
    assert queue.decide_all("keep") == 0 and w.message == "The queue is empty."
    assert not queue.decide("keep")


def test_hide_decided(session, queue):
    w = queue.widget
    browser_update(w, {"hide_decided": True})
    total = w.total
    first, second = queue.items[:2].tolist()
    queue.press("x")
    assert w.total == total - 1 and queue.current == second and w.cursor == 0
    assert first not in queue.items
    queue.press("u")
    assert w.total == total and queue.current == first


def test_select_all_links_queue_to_other_views(session, queue):
    seen = []
    session.on("selection", lambda s: seen.append(s.selection_source))
    browser_send(queue.widget, {"type": "select_all"})
    assert seen == ["queue"] and session.selection.tolist() == sorted(queue.items.tolist())


def test_close_unsubscribes(session, queue):
    w = queue.widget
    total = w.total
    queue.close()
    session.select([1, 2])
    assert w.total == total
    queue.close()  # idempotent


def test_keymap():
    km = keymap(3)
    assert km["x"] == "remove" and km["a"] == "keep" and km["?"] == "needs_review"
    assert km["2"] == "relabel:2" and "3" not in km
    assert km["ctrl+z"] == "undo" and km["j"] == "next" and km["k"] == "previous"
    assert (
        sum(v.startswith("relabel:") and v != "relabel:suggested" for v in keymap(50).values())
        == 10
    )


def test_many_classes_relabel_by_name():
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(12)]
    labels = np.arange(120) % 12
    ds = Dataset(labels, class_names=names)
    s = rng.random(120)
    q = ReviewQueue(Session(ds, results={"d": DetectorResult("d", s, s > 0.5)}))
    browser_send(q.widget, {"type": "decide", "action": "relabel", "label": 11, "position": 0})
    assert q.session.decisions.relabels()["label_name"].tolist() == ["c11"]


def test_million_flagged_serialises_one_page():
    n = 1_000_000
    rng = np.random.default_rng(0)
    ds = Dataset(rng.integers(0, 10, n).astype(np.int64), class_names=[str(i) for i in range(10)])
    scores = rng.random(n)
    q = ReviewQueue(Session(ds, results={"d": DetectorResult("d", scores, np.ones(n, bool))}))
    w = q.widget
    assert w.total == n and len(w.rows) == 20
    state = w.get_state()
    assert len(json.dumps({k: v for k, v in state.items() if k not in ("_esm", "_css")})) < 20_000
    browser_update(w, {"page": 40_000})
    assert w.rows[0]["position"] == 800_000
    assert w.rows[0]["scores"][0]["score"] == pytest.approx(np.sort(scores)[::-1][800_000])
    q.press("x")
    assert q.session.decisions.counts()["remove"] == 1


def test_widget_repr_and_assets(queue):
    assert repr(queue.widget).startswith("QueueWidget(total=")
    assert repr(queue) == "ReviewQueue(N=1797, K=10)"
    bundle = queue._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == queue.widget.model_id
    state = queue.widget.get_state()
    assert "export default" in state["_esm"] and ".wb-queue" in state["_css"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("name", ["queue.js", "grid.js", "labelset_queue.js"])
def test_es_module_syntax(tmp_path, name):
    """Each widget's module as anywidget gets it (the shared widgets/dom.js, then the widget's
    own code) parses as one ES module: no helper defined twice, none missing."""
    esm = widget_module(name)
    assert esm.startswith((WIDGETS / "dom.js").read_text())
    assert esm.endswith((WIDGETS / name).read_text())
    assert esm.count("function h(") == 1 and esm.count("function fmtScore(") == 1
    # `node --check x.js` does not parse ES-module syntax on every node version: check a .mjs copy.
    copy = tmp_path / (Path(name).stem + ".mjs")
    copy.write_text(esm)
    proc = subprocess.run(["node", "--check", str(copy)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


_STUB_RENDER = """
async ([esm, state]) => {
  const listeners = {};
  const sent = [];
  const model = {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; (listeners["change:" + k] || []).forEach((f) => f()); },
    save_changes: () => sent.push({ save: true }),
    send: (m) => sent.push(m),
    on: (names, f) => names.split(" ").forEach((n) => (listeners[n] = listeners[n] || []).push(f)),
    off: (names, f) => names.split(" ").forEach((n) => (listeners[n] = (listeners[n] || []).filter((g) => g !== f))),
  };
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const mod = await import(url);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = mod.default.render({ model, el });
  const press = (key, extra = {}) => {
    const ev = new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true, ...extra });
    el.dispatchEvent(ev);
    return ev.defaultPrevented;
  };
  const prevented = {
    x: press("x"), question: press("?", { shiftKey: true }), ctrlz: press("z", { ctrlKey: true }),
    shiftEnter: press("Enter", { shiftKey: true }), f5: press("F5"),
  };
  el.querySelector(".wb-q-btn-remove").click();
  model.set("cursor", 2);
  const focused = el.querySelector(".wb-q-focused").dataset.position;
  const rows = el.querySelectorAll(".wb-q-row").length;
  const suppress = el.getAttribute("data-lm-suppress-shortcuts");
  const first = el.querySelector(".wb-q-row");
  const nflag = first.querySelector(".wb-q-nflag");
  const line = {
    text: nflag.textContent.trim(),
    title: nflag.getAttribute("title"),
    score: first.querySelector(".wb-q-score").textContent,
    tables: el.querySelectorAll(".wb-q-row table").length,
    colhead: el.querySelector(".wb-q-colhead").textContent,
  };
  nflag.querySelector(".wb-q-more").click();
  const detail = [...el.querySelectorAll(".wb-q-row .wb-q-detail .wb-q-chip")].map((c) => c.textContent);
  cleanup();
  return { sent, prevented, focused, rows, suppress, line, detail };
}
"""


@pytest.mark.browser
def test_es_module_in_headless_chromium(queue):
    """The ES module renders the page's rows and turns keys and clicks into messages."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed")
    state = {k: v for k, v in queue.widget.get_state().items() if not k.startswith("_")}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto("about:blank")
            out = page.evaluate(_STUB_RENDER, [queue.widget._esm, state])
        finally:
            browser.close()
    assert errors == []
    assert out["rows"] == 10 and out["focused"] == "2" and out["suppress"] == "true"
    # one line per sample: the active score and "n of m", every score only on demand
    row = queue.widget.rows[0]
    line = out["line"]
    assert line["text"] == f"▸ {row['n_flagged']} of {row['n_detectors']}"
    assert line["title"].startswith(f"Flagged by {row['n_flagged']} of 2 detectors:")
    assert "strong" in line["title"] and "weak" in line["title"]
    assert line["score"] == f"{row['active_score']:.3f}" and line["tables"] == 0
    assert "score: strong" in line["colhead"] and "flagged by" in line["colhead"]
    assert len(out["detail"]) == 2 and out["detail"][0].startswith("strong")
    assert out["prevented"] == {
        "x": True,
        "question": True,
        "ctrlz": True,
        "shiftEnter": False,
        "f5": False,
    }
    keys = [m for m in out["sent"] if m.get("type") == "key"]
    assert [(m["key"], m["ctrl"]) for m in keys] == [("x", False), ("?", False), ("z", True)]
    # what the browser sent, replayed into Python, decides as the keys say
    for message in keys:
        browser_send(queue.widget, message)
    assert len(queue.session.decisions.current()) == 1  # x then ? then undo of ?
    clicks = [m for m in out["sent"] if m.get("type") == "decide"]
    assert clicks == [{"type": "decide", "action": "remove", "position": 0}]


def test_bad_messages_from_the_browser_are_ignored_and_logged(session, queue, caplog):
    """A queue position of "abc" or [1] used to raise out of the message handler. Every
    field of a message is checked: a bad message is logged and ignored, nothing is decided,
    and the queue keeps working."""
    w = queue.widget
    bad = [
        {"type": "decide", "action": "keep", "position": "abc"},
        {"type": "decide", "action": "keep", "position": [1]},
        {"type": "decide", "action": "keep", "position": True},
        {"type": "decide", "action": "keep", "position": 1.5},
        {"type": "decide", "action": "keep", "position": 1, "advance": "yes"},
        {"type": "decide", "action": ["keep"], "position": 1},
        {"type": "decide", "action": {"a": 1}, "position": 1},
        {"type": "decide", "action": "relabel", "label": [3], "position": 1},
        {"type": "decide", "action": "relabel", "label": {"x": 1}, "position": 1},
        {"type": "decide", "action": "relabel", "label": 2.5, "position": 1},
        {"type": "bulk", "action": "relabel", "label": [1, 2]},
        {"type": "bulk", "action": None},
        {"type": "key", "key": ["x"]},
        {"type": "key", "key": None},
        {"type": "key"},
        {"type": "teleport"},
    ]
    with caplog.at_level("WARNING", logger="workbench.ui"):
        for message in bad:
            browser_send(w, message)
    assert len(session.decisions) == 0
    ignored = [r.getMessage() for r in caplog.records if "ReviewQueue ignored" in r.getMessage()]
    assert len(ignored) == len(bad)
    assert "row position that is not an int" in ignored[0] and "'abc'" in ignored[0]
    # still working
    i = int(queue.items[1])
    browser_send(w, {"type": "decide", "action": "keep", "position": 1, "advance": False})
    assert session.decisions.actions()[i] == "keep"
    browser_send(w, {"type": "key", "key": "x"})
    assert (session.decisions.actions() != "").sum() == 2


def test_python_position_must_be_an_int(queue):
    for position in ("abc", [1], 1.0, True):
        with pytest.raises(TypeError, match="position must be an int"):
            queue.decide("keep", position=position)
    assert len(queue.session.decisions) == 0


def test_relabel_by_class_name():
    """``decide("relabel", label="dog")`` recorded the decision and then crashed on
    ``int(label)``; ``decide_all`` too, though class names are allowed."""
    s = text_session()  # classes sport, politics, science
    q = ReviewQueue(s)
    first, second = int(q.items[0]), int(q.items[1])
    assert q.decide("relabel", label="science") is True
    assert q.widget.message == f"Relabel to science: sample {first}."
    assert q.current == second  # moved on
    assert s.decisions.relabels().set_index("index").loc[first, "label_name"] == "science"
    assert q.decide("relabel", label="no such class") is False
    assert "not a class" in q.widget.message
    browser_send(q.widget, {"type": "decide", "action": "relabel", "label": "politics"})
    assert s.decisions.relabels().set_index("index").loc[second, "label_name"] == "politics"
    n = q.decide_all("relabel", label="sport")
    assert n == len(q.items) > 0
    assert q.widget.message == f"Relabel to sport: {n:,} samples."
    assert set(s.decisions.relabels()["label_name"]) == {"sport"}
    browser_send(q.widget, {"type": "bulk", "action": "relabel", "label": "science"})
    assert set(s.decisions.relabels()["label_name"]) == {"science"}
    assert q.decide_all("relabel", label=np.int64(1)) == n
    assert q.widget.message == f"Relabel to politics: {n:,} samples."


@pytest.mark.parametrize("hide_decided", [False, True])
def test_undo_puts_the_cursor_back_on_the_undone_row(session, hide_decided):
    """``u`` undid the decision but left the cursor on the next row."""
    q = ReviewQueue(session, page_size=10, hide_decided=hide_decided)
    w = q.widget
    first, second = int(q.items[0]), int(q.items[1])
    browser_send(w, {"type": "key", "key": "x"})
    browser_send(w, {"type": "key", "key": "a"})
    assert w.cursor == (0 if hide_decided else 2)
    browser_send(w, {"type": "key", "key": "u"})
    assert q.current == second and w.message == f"Undone: sample {second}."
    browser_send(w, {"type": "key", "key": "a"})  # decided again, on the same sample
    assert session.decisions.actions()[second] == "keep"
    browser_send(w, {"type": "key", "key": "u"})
    browser_send(w, {"type": "key", "key": "u"})
    assert q.current == first and len(session.decisions.current()) == 0
    # a bulk step: back to the first of its rows
    browser_send(w, {"type": "key", "key": "End"})
    browser_send(w, {"type": "bulk", "action": "remove"})
    browser_send(w, {"type": "undo"})
    assert w.cursor == 0 and w.message.startswith("Undone: ")
    # relabel undone to an earlier relabel of the same sample
    browser_send(w, {"type": "decide", "action": "relabel", "label": 1, "position": 3})
    browser_send(w, {"type": "decide", "action": "relabel", "label": 2, "position": 3})
    browser_send(w, {"type": "key", "key": "Home"})
    browser_send(w, {"type": "undo"})
    assert w.cursor == 3 and session.decisions.relabels()["label"].tolist() == [1]


def test_note_typed_in_the_browser_is_filed_with_the_next_decision(session, queue):
    w = queue.widget
    first = int(queue.items[0])
    assert queue.widget.keymap["n"] == "note" and queue.widget.keymap["c"] == "pick_class"
    browser_update(w, {"note": "  blurry, ask Ana  "})
    browser_send(w, {"type": "key", "key": "n"})  # the browser focuses the box: nothing here
    assert len(session.decisions) == 0 and w.cursor == 0
    browser_send(w, {"type": "key", "key": "x"})
    assert session.decisions.current().set_index("index").loc[first, "note"] == "blurry, ask Ana"
    assert w.note == ""  # cleared for the next one
    browser_send(w, {"type": "key", "key": "a"})
    assert session.decisions.current().set_index("index").loc[int(queue.items[1]), "note"] == ""


_STUB_KEYS = """
async ([esm, state]) => {
  const listeners = {};
  const sent = [];
  const model = {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; (listeners["change:" + k] || []).forEach((f) => f()); },
    save_changes: () => sent.push({ save: true }),
    send: (m) => sent.push(m),
    on: (names, f) => names.split(" ").forEach((n) => (listeners[n] = listeners[n] || []).push(f)),
    off: (names, f) => names.split(" ").forEach((n) => (listeners[n] = (listeners[n] || []).filter((g) => g !== f))),
  };
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const mod = await import(url);
  const el = document.createElement("div");
  document.body.append(el);
  mod.default.render({ model, el });
  const press = (target, key) => {
    const ev = new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true });
    target.dispatchEvent(ev);
    return ev.defaultPrevented;
  };
  const digits = [...el.querySelectorAll(".wb-q-digits .wb-q-legend-item")].map((i) => i.textContent);
  press(el, "c");
  const picker = document.activeElement;
  const pickerOnRow = picker.closest(".wb-q-row")?.dataset.position;
  const options = [...document.getElementById(picker.getAttribute("list")).options].map((o) => o.value);
  picker.value = "class 11";
  press(picker, "Enter");
  picker.value = "lass 1";  // matches several: nothing sent
  press(picker, "Enter");
  picker.value = "12";  // a class number
  press(picker, "Enter");
  press(el, "n");
  const note = document.activeElement;
  note.value = "check the scan";
  note.dispatchEvent(new Event("input"));
  const keyInNote = press(note, "x");  // typing, not a queue key
  const noteState = state.note;
  model.set("note", "");  // Python filed it
  return { digits, pickerClass: picker.className, pickerOnRow, options, sent,
           noteClass: note.className, noteState, noteValue: note.value, keyInNote };
}
"""


@pytest.mark.browser
def test_es_module_keys_name_classes_pick_any_class_and_take_a_note():
    """Digit keys show their class; ``c`` opens a type-to-filter class box on the current row
    (beyond ten classes too); ``n`` a note box whose text becomes the ``note`` trait."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed")
    rng = np.random.default_rng(0)
    names = [f"class {i}" for i in range(14)]
    ds = Dataset(np.arange(140) % 14, class_names=names)
    s = rng.random(140)
    q = ReviewQueue(Session(ds, results={"d": DetectorResult("d", s, s > 0.5)}), page_size=5)
    state = {k: v for k, v in q.widget.get_state().items() if not k.startswith("_")}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto("about:blank")
            out = page.evaluate(_STUB_KEYS, [q.widget._esm, state])
        finally:
            browser.close()
    assert errors == []
    assert out["digits"] == [f"{i} class {i}" for i in range(10)]
    assert out["pickerClass"] == "wb-q-picker" and out["pickerOnRow"] == "0"
    assert out["options"] == names
    decided = [m for m in out["sent"] if m.get("type") == "decide"]
    assert decided == [
        {"type": "decide", "action": "relabel", "label": 11, "position": 0},
        {"type": "decide", "action": "relabel", "label": 12, "position": 0},
    ]
    assert out["noteClass"] == "wb-q-note" and out["noteState"] == "check the scan"
    assert out["keyInNote"] is False and out["noteValue"] == ""
    for message in decided:  # replayed into Python: relabels to those classes
        browser_send(q.widget, message)
    assert q.session.decisions.relabels()["label_name"].tolist() == ["class 12"]


def test_filters_and_find_by_id(session, queue, caplog):
    """Queue filters: given class, suggested class, decision state, detectors flagging; find
    a sample by id."""
    w = queue.widget
    ds = session.dataset
    everything = queue.items
    browser_update(w, {"filter_given": 3})
    assert set(ds.labels[queue.items]) == {3} and w.total == len(queue.items) > 0
    assert "filtered: given 3" in w.title
    browser_update(w, {"filter_given": -1, "filter_suggested": 5})
    assert set(queue._suggested(queue.items)) == {5}
    browser_update(w, {"filter_suggested": -1})
    np.testing.assert_array_equal(queue.items, everything)
    queue.decide("remove", position=0)
    browser_update(w, {"filter_state": "decided"})
    assert queue.items.tolist() == [int(everything[0])]
    browser_update(w, {"filter_state": "undecided"})
    assert int(everything[0]) not in queue.items and len(queue.items) == len(everything) - 1
    browser_update(w, {"filter_state": "any", "min_flagged": 2})
    assert (queue.n_flagging(queue.items) >= 2).all()
    assert len(queue.items) == int((queue.n_flagging(everything) >= 2).sum())
    with caplog.at_level("WARNING", logger="workbench.ui"):
        browser_update(w, {"filter_given": 99})
        browser_update(w, {"filter_state": "burnt"})
        browser_update(w, {"min_flagged": -3})
        browser_send(w, {"type": "find", "id": ["x"]})
    assert w.filter_given == -1 and w.filter_state == "any" and w.min_flagged == 2
    assert sum("ReviewQueue ignored" in r.getMessage() for r in caplog.records) == 4
    queue.set_filters()
    target = int(everything[7])
    browser_send(w, {"type": "find", "id": str(target)})
    assert queue.current == target and w.message == f"Found sample {target} at row 8."
    outside = int(np.setdiff1d(np.arange(ds.n_samples), everything)[0])
    browser_send(w, {"type": "find", "id": outside})
    assert "is not in this queue" in w.message and queue.current == target
    browser_send(w, {"type": "find", "id": "nope"})
    assert "No sample has the id 'nope'" in w.message
    queue.set_filters(given="3", state="remove")
    assert w.filter_given == 3 and w.filter_state == "remove"
    with pytest.raises(ValueError, match="given must be a class name"):
        queue.set_filters(given="cat")
    with pytest.raises(ValueError, match="state must be one of"):
        queue.set_filters(state="gone")


def test_find_by_string_ids():
    s = text_session()
    ds = s.dataset.with_signals(ids=[f"doc-{i}" for i in range(s.dataset.n_samples)])
    q = ReviewQueue(Session(ds, results=s.results))
    target = int(q.items[2])
    assert q.find(f"doc-{target}") and q.current == target
