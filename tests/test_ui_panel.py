"""Detector panel: built without a browser; threshold changes as the browser sends them update
the session's flags, the flagged count and precision / recall / F1 (checked against
scikit-learn), the precision-recall chart and the overlap table."""

from __future__ import annotations

import numpy as np
import pytest
from _ui_sessions import browser_update, digits_session
from sklearn.metrics import precision_recall_fscore_support, precision_score, recall_score

from workbench.analysis.detectors import DetectorResult
from workbench.core.dataset import Dataset
from workbench.session import Session
from workbench.ui.panel import DetectorPanel, overlap_flags


@pytest.fixture
def session():
    return digits_session()


@pytest.fixture
def panel(session):
    p = DetectorPanel(session)
    _ = p.widget
    return p


def sk_prf(flags, noisy):
    p, r, f, _ = precision_recall_fscore_support(noisy, flags, average="binary", zero_division=0)
    return p, r, f


def test_controls_reflect_session(session, panel):
    assert panel.detector.options == ("strong", "weak") and panel.detector.value == "strong"
    assert panel.mode.value == "default"
    scores = session.result.scores
    assert panel.score.min == pytest.approx(scores.min())
    assert panel.score.max == pytest.approx(scores.max())
    assert panel.score.disabled and panel.top_k.disabled
    n = int(session.flags.sum())
    assert f"<b>{n:,}</b> flagged of 1,797" in panel.count.value
    assert "estimated" not in [v for _, v in panel.mode.options]  # no pred_probs here


def test_score_threshold_updates_count_and_quality(session, panel):
    browser_update(panel.mode, {"index": 1})  # "score ≥"
    assert session.threshold[0] == "score"
    for value in np.quantile(session.result.scores, [0.5, 0.9, 0.99]).tolist():
        browser_update(panel.score, {"value": value})
        flags = session.result.scores >= value
        np.testing.assert_array_equal(session.flags, flags)
        assert f"<b>{int(flags.sum()):,}</b> flagged" in panel.count.value
        q = panel.quality()
        p, r, f = sk_prf(flags, session.dataset.is_noisy)
        assert q["precision"] == pytest.approx(p)
        assert q["recall"] == pytest.approx(r)
        assert q["f1"] == pytest.approx(f)
        assert f"precision <b>{p:.3f}</b>" in panel.quality_html.value
        assert f"recall <b>{r:.3f}</b>" in panel.quality_html.value
        marker = panel.figure.data[-1]
        assert marker.x == (pytest.approx(r),) and marker.y == (pytest.approx(p),)


def test_top_k_threshold(session, panel):
    browser_update(panel.mode, {"index": 2})
    assert session.threshold == ("top_k", int(session.result.flags.sum()))
    browser_update(panel.top_k, {"value": 40})
    assert session.threshold == ("top_k", 40) and session.flags.sum() == 40
    top = session.result.top_k(40)
    noisy = session.dataset.is_noisy
    assert panel.quality()["precision"] == pytest.approx(noisy[top].mean())
    assert panel.quality()["n_found"] == int(noisy[top].sum())
    assert not panel.top_k.disabled and panel.score.disabled


def test_slider_echo_does_not_change_the_rule(session, panel):
    # A slider rendering in the browser sends its value back rounded to its step: in default
    # mode that must leave the flag rule alone.
    before = session.flags.copy()
    browser_update(panel.score, {"value": round(panel.score.value, 2)})
    browser_update(panel.top_k, {"value": 3})
    assert session.threshold == ("default", None)
    np.testing.assert_array_equal(session.flags, before)


def test_threshold_set_elsewhere_moves_the_controls(session, panel):
    session.set_threshold("score", 1.25)
    assert panel.mode.value == "score" and panel.score.value == pytest.approx(1.25, abs=2e-3)
    assert panel.top_k.value == int(session.flags.sum())
    session.set_threshold("default")
    assert panel.mode.value == "default"


def test_detector_switch_keeps_flag_count_in_score_mode(session, panel):
    browser_update(panel.mode, {"index": 1})
    browser_update(panel.score, {"value": 1.2})
    k = int(session.flags.sum())
    browser_update(panel.detector, {"index": 1})  # "weak", a different score scale
    assert session.active == "weak" and session.threshold[0] == "score"
    assert int(session.flags.sum()) == k
    assert panel.score.max == pytest.approx(session.results["weak"].scores.max())
    line_widths = {t.meta: t.line.width for t in panel.figure.data[:2]}
    assert line_widths["weak"] > line_widths["strong"]


def test_pr_curves_match_sklearn(session, panel):
    from sklearn.metrics import precision_recall_curve

    noisy = session.dataset.is_noisy
    names = [t.meta for t in panel.figure.data]
    assert names[:2] == ["strong", "weak"] and names[-1] == "current threshold"
    recall, precision = panel.curve("weak")
    sk_p, sk_r, _ = precision_recall_curve(noisy, session.results["weak"].scores)
    # same curve: every (recall, precision) point of ours lies on scikit-learn's
    ours = {(round(r, 9), round(p, 9)) for r, p in zip(recall, precision, strict=True)}
    theirs = {(round(r, 9), round(p, 9)) for r, p in zip(sk_r, sk_p, strict=True)}
    assert len(ours & theirs) >= 0.9 * len(ours)
    baseline = panel.figure.data[-2]
    assert baseline.y[0] == pytest.approx(noisy.mean())


def test_overlap_table(session, panel):
    flags = overlap_flags(session, ["strong", "weak"])
    np.testing.assert_array_equal(flags["strong"], session.flags)
    np.testing.assert_array_equal(flags["weak"], session.results["weak"].flags)
    both = int((flags["strong"] & flags["weak"]).sum())
    report = panel.overlap()
    assert report.intersection.loc["strong", "weak"] == both
    assert f">{both:,} <span" in panel.overlap_html.value  # the off-diagonal cell
    only_weak = int((flags["weak"] & ~flags["strong"]).sum())
    combos = report.combinations.set_index(["strong", "weak"])["n_samples"]
    assert combos.loc[(False, True)] == only_weak
    assert f">{only_weak:,}</td>" in panel.overlap_html.value  # its row of the UpSet list
    browser_update(panel.mode, {"index": 2})
    browser_update(panel.top_k, {"value": 30})
    eq = overlap_flags(session, ["strong", "weak"])
    assert eq["weak"].sum() == 30  # equal budget in top-k mode
    panel.overlap_select.value = ("strong",)
    assert "Pick two or more" in panel.overlap_html.value


def test_without_truth_no_quality_but_sentence():
    s = digits_session(truth=False)
    p = DetectorPanel(s)
    _ = p.widget
    assert not p.has_quality and p.quality() is None and p.figure is None
    assert "true labels" in p.truth_reason
    with pytest.raises(ValueError, match="true labels"):
        p.curve("strong")
    browser_update(p.top_k, {"value": 10})  # disabled in default mode: ignored
    assert s.threshold == ("default", None)
    assert "flagged" in p.count.value


def test_estimated_mode_with_pred_probs():
    s = digits_session(pred_probs=True)
    p = DetectorPanel(s)
    _ = p.widget
    modes = [v for _, v in p.mode.options]
    assert modes[-1] == "estimated"
    browser_update(p.mode, {"index": 3})
    assert s.threshold == ("estimated", None)
    n = s.estimated_num_errors()
    assert int(s.flags.sum()) == n and f"estimated label errors: {n:,}" in p.count.value


def test_unavailable_detectors_listed():
    rng = np.random.default_rng(0)
    ds = Dataset(rng.integers(0, 3, 50))
    sc = rng.random(50)
    s = Session(ds, results={"x": DetectorResult("x", sc, sc > 0.8)})
    p = DetectorPanel(s)
    _ = p.widget
    if s.unavailable:
        name, why = next(iter(s.unavailable.items()))
        assert name in p.unavailable.value and why.split(":")[0] in p.unavailable.value
    assert p.overlap_html.value == ""  # one detector: nothing to compare


def test_bad_options(session):
    with pytest.raises(ValueError, match="curve_points"):
        DetectorPanel(session, curve_points=2)
    with pytest.raises(ValueError, match="overlap_detectors"):
        DetectorPanel(session, overlap_detectors=["nope"])


def test_partial_truth_uses_known_samples_only():
    base = digits_session()
    ds = base.dataset
    true = ds.true_labels.copy()
    true[::2] = -1  # half unknown
    s = Session(ds.with_signals(true_labels=true), results=base.results)
    p = DetectorPanel(s)
    _ = p.widget
    known = true >= 0
    noisy = (true != ds.labels) & known
    q = p.quality()
    assert q["precision"] == pytest.approx(precision_score(noisy[known], s.flags[known]))
    assert q["recall"] == pytest.approx(recall_score(noisy[known], s.flags[known]))


def test_pr_chart_legend_ranks_by_average_precision(session):
    from sklearn.metrics import average_precision_score

    # 8 detectors: the legend must stay readable, so only the best few are coloured
    rng = np.random.default_rng(3)
    noisy = session.dataset.is_noisy
    results = dict(session.results)
    for i in range(6):
        scores = rng.random(len(noisy)) + (0.2 * i) * noisy
        results[f"extra{i}"] = DetectorResult(f"extra{i}", scores, scores > 1.0)
    s = Session(session.dataset, results=results)
    panel = DetectorPanel(s, highlight=3)
    assert panel.widget is not None
    curves = panel.figure.data[:-2]
    aps = {t.meta: average_precision_score(noisy, results[t.meta].scores) for t in curves}
    for t in curves:  # the legend names each detector with its average precision
        assert t.name == f"{t.meta} · AP {aps[t.meta]:.2f}"
    best_first = sorted(aps, key=lambda n: -aps[n])
    assert [t.meta for t in sorted(curves, key=lambda t: t.legendrank)] == best_first
    assert panel.highlighted() == best_first[:3]  # "strong" is both best and active
    grey = [t for t in curves if t.meta not in best_first[:3]]
    assert {t.line.color for t in grey} == {"#b0b0b0"} and all(t.opacity < 1 for t in grey)
    coloured = {t.line.color for t in curves if t.meta in best_first[:3]}
    assert len(coloured) == 3 and "#b0b0b0" not in coloured
    lay = panel.figure.layout
    assert lay.legend.x > 1 and lay.height >= 22 * (len(curves) + 2)  # beside, room for all
    # the active detector is always drawn thick, in colour even when not among the best
    s.set_detector("extra0")
    active = next(t for t in curves if t.meta == "extra0")
    assert active.line.width == 3 and active.line.color != "#b0b0b0" and active.opacity == 1
    assert panel.highlighted() == best_first[:3] + ["extra0"]
    with pytest.raises(ValueError, match="highlight"):
        DetectorPanel(s, highlight=0)


def test_an_ambiguity_score_is_named_so_and_never_coloured_as_a_best_detector(session):
    noisy = session.dataset.is_noisy
    results = dict(session.results)
    # an ambiguity score that happens to rank the known noise perfectly on this data
    perfect = noisy.astype(float)
    results["datamap_variability"] = DetectorResult("datamap_variability", perfect, noisy)
    panel = DetectorPanel(Session(session.dataset, results=results), highlight=1)
    assert panel.widget is not None
    trace = next(t for t in panel.figure.data if t.meta == "datamap_variability")
    assert trace.name.startswith("datamap_variability (ambiguity) · AP 1.00")
    assert "datamap_variability" not in panel.highlighted()
    assert trace.line.color == "#b0b0b0"


def test_markup_in_detector_names_is_shown_literally_in_the_chart():
    base = digits_session()
    strong = base.results["strong"]
    odd = "<b>my</b> 100%{x}"
    s = Session(
        base.dataset,
        results={
            odd: DetectorResult(odd, strong.scores, strong.flags),
            "weak": base.results["weak"],
        },
    )
    p = DetectorPanel(s)
    assert p.widget is not None
    trace = [t for t in p.figure.data if t.meta == odd][0]
    assert trace.name.startswith("&lt;b&gt;my&lt;/b&gt; 100&#37;{x} · AP ")
    assert trace.hovertemplate.startswith("&lt;b&gt;my&lt;/b&gt; 100&#37;{x} (AP ")
    assert "&lt;b&gt;my" in p.overlap_html.value and "<b>my</b>" not in p.overlap_html.value


def test_compare_starts_with_the_active_and_best_and_says_each_rule():
    """Compare started with the alphabetically first detectors; in score mode every compared
    detector showed the same flagged set (Jaccard 1.00) and nothing said why."""
    base = digits_session()
    strong, weak = base.results["strong"], base.results["weak"]
    noisy = base.dataset.is_noisy
    rng = np.random.default_rng(3)
    rand = rng.random(len(noisy))
    results = {
        "a_random": DetectorResult("a_random", rand, rand > 0.9),
        "b_random": DetectorResult("b_random", rand[::-1].copy(), rand[::-1] > 0.9),
        "strong": strong,
        "strong_twin": DetectorResult("strong_twin", strong.scores, strong.scores > 1.6),
        "weak": weak,
    }
    s = Session(base.dataset, results=results)
    s.set_detector("weak")
    p = DetectorPanel(s)
    assert p.widget is not None
    chosen = list(p.overlap_select.value)  # the active one, then the best by AP
    assert chosen[:3] == ["weak", "strong", "strong_twin"] and len(chosen) == 4
    assert p.compare_rule.value == "own"
    text = p.overlap_html.value
    assert "Compared at <i>each detector" in text
    assert "<b>weak</b>: its default rule (the detector chosen above)" in text
    n_twin = int(results["strong_twin"].flags.sum())
    assert f"<b>strong_twin</b>: its default rule ({n_twin:,} flagged)" in text
    browser_update(p.mode, {"index": 1})  # score ≥
    text = p.overlap_html.value
    assert "<b>weak</b>: score ≥ " in text and "Same flags" not in text
    browser_update(p.compare_rule, {"index": 1})  # the same number flagged
    k = int(s.flags.sum())
    text = p.overlap_html.value
    assert f"<b>strong</b>: its {k:,} highest scores" in text
    assert "Same flags at the same count: strong and strong_twin" in text
    report = p.overlap()
    assert report.jaccard.loc["strong", "strong_twin"] == 1.0
    assert report.jaccard.loc["weak", "strong"] < 1.0
    with pytest.raises(ValueError, match="rule must be"):
        overlap_flags(s, ["weak"], rule="same")


def test_score_histogram_with_a_draggable_threshold_and_counts_per_class(caplog):
    """Without the truth the panel was bare sliders: a histogram of the active detector's
    scores, the flagged ones in red, the threshold a line to drag (or a bar to click), and
    how many of each given class are flagged."""
    s = digits_session(truth=False)
    p = DetectorPanel(s)
    assert p.widget is not None
    hist = p.histogram
    assert hist in p.widget.children
    flagged, rest = hist.data[0], hist.data[1]
    assert sum(flagged.y) == int(s.flags.sum()) and sum(flagged.y) + sum(rest.y) == len(s.flags)
    edges, f, u = p.histogram_counts()
    np.testing.assert_array_equal(flagged.y, f)
    # drag the line, as plotly reports it
    x = float(np.quantile(s.result.scores, 0.8))
    browser_update(
        hist,
        {
            "_js2py_relayout": {
                "relayout_data": {"shapes[0].x0": x, "shapes[0].x1": x},
                "source_view_id": "v",
            }
        },
    )
    assert s.threshold == ("score", x)
    assert int(s.flags.sum()) == int((s.result.scores >= x).sum())
    assert hist.layout.shapes[0].x0 == x and sum(hist.data[0].y) == int(s.flags.sum())
    assert p.mode.value == "score"
    # click a bar: everything from its left edge up is flagged
    centre = hist.data[1].x[40]
    hist._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {"trace_indexes": [1], "point_indexes": [40], "xs": [centre], "ys": [1]},
        "device_state": None,
    }
    left = centre - (edges[1] - edges[0]) / 2
    assert s.threshold[0] == "score" and s.threshold[1] == pytest.approx(left)
    with caplog.at_level("WARNING", logger="workbench.ui"):
        browser_update(
            hist,
            {"_js2py_relayout": {"relayout_data": {"shapes[0].x0": "x"}, "source_view_id": "v"}},
        )
    assert s.threshold[1] == pytest.approx(left)
    assert any("DetectorPanel ignored" in r.getMessage() for r in caplog.records)
    per_class = p.flagged_per_class()
    labels = s.dataset.labels
    assert per_class["3"] == (int(s.flags[labels == 3].sum()), int((labels == 3).sum()))
    assert f"<b>3</b> {per_class['3'][0]:,}/{per_class['3'][1]:,}" in p.per_class_html.value
    s.set_detector("weak")  # follows the active detector
    assert "weak" in hist.layout.title.text and sum(hist.data[0].y) == int(s.flags.sum())


def test_a_browser_meeting_the_histogram_later_draws_it_as_it_is_now():
    """A reloaded page drew the histogram as it was built: plotly refreshes the state a new
    browser starts from only when a figure is displayed by itself, never inside the workbench;
    a later change sent only the traces that differ, so the others kept old bars."""
    s = digits_session(truth=False)
    p = DetectorPanel(s)
    assert p.widget is not None
    hist = p.histogram
    built = [list(t["y"]) for t in hist.get_state()["_widget_data"]]
    for rule in [("score", float(np.quantile(s.result.scores, 0.5))), ("top_k", 40)]:
        s.set_threshold(*rule)
        state = hist.get_state()  # what the browser receives when it creates the widget
        edges, flagged, unflagged = p.histogram_counts()
        data = state["_widget_data"]
        assert [list(data[0]["y"]), list(data[1]["y"])] == [flagged.tolist(), unflagged.tolist()]
        assert [list(data[0]["y"]), list(data[1]["y"])] != built
        assert state["_widget_layout"]["shapes"][0]["x0"] == hist.layout.shapes[0].x0
    s.set_detector("weak")
    state = hist.get_state()
    assert "weak" in state["_widget_layout"]["title"]["text"]
    assert list(state["_widget_data"][1]["x"]) == list(hist.data[1].x)
