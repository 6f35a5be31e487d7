"""The static HTML report: sections, self-contained (no network), well-formed charts, atomic."""

from __future__ import annotations

import base64
import html as html_mod
import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
from _audit_data import probs_dataset

import workbench.pipeline.report as report_mod
from workbench.core.dataset import Dataset
from workbench.pipeline.charts import heatmap_svg, pr_curves_svg
from workbench.pipeline.report import render_report, write_report
from workbench.pipeline.run import audit

_MAP_DATA = re.compile(r'<script type="application/json" id="wb-map-data">(.*?)</script>', re.S)
SECTIONS = ("summary", "matrices", "map", "detectors", "samples", "references")


class _Collector(HTMLParser):
    """Collects tags, ids, attribute URLs and checks that non-void tags are balanced."""

    VOID = {"meta", "img", "br", "input", "link", "hr", "rect", "line", "polyline", "path"}

    def __init__(self):
        super().__init__()
        self.ids, self.urls, self.scripts, self.stack, self.errors = set(), [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("src", "href"):
            if key in a:
                self.urls.append(a[key])
        if tag == "script":
            self.scripts.append(a)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    c.close()
    return c


@pytest.fixture(scope="module")
def full_result():
    ds = probs_dataset(n=400, k=4, previews=True, coords=True)
    return audit(ds, compute_missing=False, progress=False)


@pytest.fixture(scope="module")
def full_html(full_result):
    return render_report(full_result, top=12)


def test_report_has_every_section_and_is_self_contained(full_html):
    c = parse(full_html)
    assert c.errors == [] and c.stack == []
    assert set(SECTIONS) <= c.ids
    assert {"wb-map", "wb-map-data", "wb-map-mode", "wb-map-detector"} <= c.ids
    # nothing is fetched: every src/href is an in-page anchor or a data URL, no external script
    assert all(u.startswith(("#", "data:image/png;base64,")) for u in c.urls)
    assert all("src" not in s for s in c.scripts)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", full_html)
    assert "<link" not in full_html and "@import" not in full_html


def test_summary_says_sizes_estimate_and_which_detectors_could_not_run(full_result, full_html):
    r = full_result
    assert f"{r.dataset.n_samples:,}" in full_html
    assert f"{r.estimated_num_errors:,}" in full_html and "estimated label errors" in full_html
    assert "Detectors that could not run" in full_html
    for name, why in r.unavailable.items():
        assert f"<td>{name}</td>" in full_html
        assert why.split(":")[0] in full_html
    for name in r.results:
        assert name in full_html


def test_matrices_are_labelled_heatmaps_with_their_orientation(full_html):
    assert "Confusion matrix" in full_html and "True noise transition matrix" in full_html
    assert "T[i, j] = P(given = j | true = i)" in full_html
    assert "Rows: true label; columns: given label." in full_html
    assert "Rows: given label; columns: predicted label." in full_html
    svgs = re.findall(r"<svg .*?</svg>", full_html, flags=re.S)
    assert len(svgs) >= 5  # 3 matrices, PR curves, detector agreement
    for svg in svgs:
        ET.fromstring(svg)  # well-formed XML
    assert "true label (i) →" in full_html and "given label (j) →" in full_html
    assert "class 3" in full_html


def test_map_payload_decodes_to_the_coordinates_and_flags(full_result, full_html):
    r = full_result
    data = json.loads(_MAP_DATA.search(full_html).group(1))
    x = np.frombuffer(base64.b64decode(data["x"]), dtype=np.float32)
    np.testing.assert_allclose(x, r.dataset.coords[:, 0], rtol=1e-6)
    idx = np.frombuffer(base64.b64decode(data["index"]), dtype=np.int32)
    np.testing.assert_array_equal(idx, np.arange(r.dataset.n_samples))
    flags = np.frombuffer(base64.b64decode(data["detectors"][r.primary]["flags"]), np.uint8)
    np.testing.assert_array_equal(flags.astype(bool), r.results[r.primary].flags)
    pct = np.frombuffer(base64.b64decode(data["detectors"][r.primary]["pct"]), np.uint8)
    order = np.argsort(r.results[r.primary].scores)
    assert (np.diff(pct[order].astype(int)) >= 0).all()  # percentile follows the score
    assert data["class_names"] == r.dataset.class_names
    assert f"All {r.dataset.n_samples:,} samples." in full_html


def test_map_subsamples_above_max_points_and_says_so(full_result):
    r = full_result
    html = render_report(r, top=0, max_points=100)
    data = json.loads(_MAP_DATA.search(html).group(1))
    idx = np.frombuffer(base64.b64decode(data["index"]), dtype=np.int32)
    assert len(idx) == 100 and len(np.unique(idx)) == 100
    n_flag = r.results[r.primary].n_flagged
    assert f"Showing 100 of {r.dataset.n_samples:,} samples" in html
    flagged_shown = np.isin(np.flatnonzero(r.results[r.primary].flags), idx).sum()
    assert flagged_shown >= min(n_flag, 50)  # flagged samples first, up to half the points
    again = render_report(r, top=0, max_points=100)
    assert again.split('id="map"')[1] == html.split('id="map"')[1]  # seeded subsample


def test_detector_table_and_pr_curves_with_truth(full_result, full_html):
    assert "Precision-recall curves" in full_html
    assert "recall: share of the true label errors that are flagged" in full_html
    for name in full_result.results:
        assert f"<title>{name} (AP " in full_html


def test_without_truth_the_comparison_says_why(tmp_path):
    r = audit(probs_dataset(n=150, truth=False), compute_missing=False, progress=False)
    html = render_report(r)
    assert "Precision and recall need true labels" in html
    assert "Precision-recall curves" not in html
    assert "No map" in html  # no coords and nothing computed
    assert "True noise transition matrix" not in html


def test_top_flagged_samples_show_previews_labels_and_scores(full_result, full_html):
    r = full_result
    section = full_html.split('id="samples"')[1].split("</section>")[0]
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', section)
    assert len(imgs) == min(12, r.results[r.primary].n_flagged)
    assert base64.b64decode(imgs[0])[:8] == b"\x89PNG\r\n\x1a\n"
    first = r.flagged_frame().iloc[0]
    assert f'<td class="num">{int(first["index"])}</td>' in section
    assert "suggested label" in section and "true label" in section
    assert 'class="mismatch"' in section  # some shown samples have a true label != given


def test_text_previews_are_escaped():
    ds = probs_dataset(n=60, k=3)
    texts = [f"<script>alert({i})</script> sample {i}" for i in range(60)]
    ds = ds.with_signals(previews=texts, class_names=["<b>a</b>", "b&c", "c"])
    r = audit(ds, compute_missing=False, progress=False)
    html = render_report(r)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<b>a</b>" not in html and "&lt;b&gt;a&lt;/b&gt;" in html
    payload = _MAP_DATA.search(html)
    assert payload is None or "</" not in payload.group(1)


def test_references_cite_the_methods(full_html):
    refs = full_html.split('id="references"')[1]
    assert "Confident Learning" in refs
    assert "Pervasive Label Errors" in refs


def test_write_report_is_atomic(full_result, tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    write_report(full_result, path, top=3)
    before = path.read_bytes()
    assert before.startswith(b"<!DOCTYPE html>")

    def boom(*a, **k):
        raise RuntimeError("render failed")

    monkeypatch.setattr(report_mod, "render_report", boom)
    with pytest.raises(RuntimeError):
        write_report(full_result, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["report.html"]
    with pytest.raises(ValueError, match="does not exist"):
        write_report(full_result, tmp_path / "missing" / "r.html")


def test_render_report_rejects_bad_arguments(full_result):
    with pytest.raises(TypeError, match="AuditResult"):
        render_report({"not": "a result"})
    with pytest.raises(ValueError, match="top"):
        render_report(full_result, top=-1)
    with pytest.raises(ValueError, match="max_points"):
        render_report(full_result, max_points=5)


# --- charts ---------------------------------------------------------------------------------------
def test_heatmap_svg_colours_diagonal_and_noise_on_their_own_scales():
    m = np.array([[0.9, 0.1, 0.0], [0.02, 0.98, 0.0], [0.0, 0.05, 0.95]])
    svg = heatmap_svg(m, ["a", "b", "c"], row_title="true label", col_title="given label")
    root = ET.fromstring(svg)
    rects = [e for e in root.iter() if e.tag.endswith("rect") and e.find("{*}title") is not None]
    assert len(rects) == 9
    fills = {e.find("{*}title").text: e.get("fill") for e in rects}
    assert fills["true label a, given label b: 0.10"] == "#b2182b"  # largest off-diagonal: full red
    assert fills["true label a, given label c: 0.00"] == "#ffffff"
    assert fills["true label b, given label b: 0.98"].startswith("#2")  # diagonal is blue
    assert "given label (j) →" in svg and "true label (i) →" in svg


def test_heatmap_svg_handles_nan_and_many_classes():
    m = np.full((50, 50), np.nan)
    svg = heatmap_svg(m, [f"c{i}" for i in range(50)], row_title="r", col_title="c")
    ET.fromstring(svg)
    assert "#e0e0e0" in svg and "<text x" in svg


def test_matrices_above_the_class_limit_show_the_noisiest_classes():
    k = 45
    rng = np.random.default_rng(0)
    true = np.concatenate([np.arange(k), rng.integers(0, k, 900)])
    given = true.copy()
    given[:100] = (given[:100] + 1) % k
    p = np.full((len(true), k), 0.1 / (k - 1), dtype=np.float32)
    p[np.arange(len(true)), true] = 0.9
    ds = Dataset(given, pred_probs=p, true_labels=true)
    r = audit(ds, compute_missing=False, progress=False)
    html = render_report(r, top=0)
    assert f"Showing the {report_mod.MAX_MATRIX_CLASSES} of {k} classes" in html


def test_pr_curves_svg_draws_one_line_per_detector():
    curves = {"a": (np.array([1.0, 0.5, 0.2]), np.array([0.0, 0.5, 1.0])), "b<": ([1.0], [0.0])}
    svg = pr_curves_svg(curves, baseline=0.2)
    root = ET.fromstring(svg)
    assert len([e for e in root.iter() if e.tag.endswith("polyline")]) == 2
    assert "b&lt;" in svg and "random ranking" in svg


def test_pr_curves_svg_orders_by_average_precision_and_greys_the_rest():
    curves = {n: ([1.0, 0.5], [0.0, 1.0]) for n in "abcd"}
    svg = pr_curves_svg(curves, ap={"a": 0.2, "b": 0.9, "c": np.nan, "d": 0.5}, highlight=2)
    root = ET.fromstring(svg)
    texts = [e.text for e in root.iter() if e.tag.endswith("text") and "(AP" in (e.text or "")]
    assert texts == ["b (AP 0.900)", "d (AP 0.500)", "a (AP 0.200)", "c (AP —)"]
    strokes = {
        e.find("{*}title").text.split()[0]: e.get("stroke")
        for e in root.iter()
        if e.tag.endswith("polyline")
    }
    assert strokes["a"] == strokes["c"] == "#b8bec6" != strokes["b"]


# --- in a real browser ----------------------------------------------------------------------------
_PROBE_MAP = """
async () => {
  const canvas = document.getElementById("wb-map");
  const ctx = canvas.getContext("2d");
  const img = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 0; i < img.length; i += 4) if (img[i + 3] > 0) painted++;
  const legendFlagged = document.getElementById("wb-map-legend").textContent;
  const mode = document.getElementById("wb-map-mode");
  mode.value = "score"; mode.dispatchEvent(new Event("change"));
  const legendScore = document.getElementById("wb-map-legend").textContent;
  mode.value = "label"; mode.dispatchEvent(new Event("change"));
  const legendLabel = document.getElementById("wb-map-legend").textContent;
  return { painted, legendFlagged, legendScore, legendLabel };
}
"""


@pytest.mark.browser
@pytest.mark.slow
def test_report_in_headless_chromium(full_result, tmp_path):
    """The page opens offline without errors, draws the map, switches colours and shows tooltips."""
    import shutil
    from pathlib import Path

    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    path = write_report(full_result, tmp_path / "report.html", top=8)
    r = full_result
    artifacts = Path(__file__).resolve().parents[1] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]  # fmt: skip
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors, requests = [], []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda q: requests.append(q.url))
            page.goto(path.as_uri())
            page.screenshot(path=str(artifacts / "report_test.png"), full_page=True)
            out = page.evaluate(_PROBE_MAP)
            # hover the first point: its pixel position from the same transform the page uses
            page.locator("#wb-map").scroll_into_view_if_needed()
            box = page.locator("#wb-map").bounding_box()
            x, y = r.dataset.coords[:, 0], r.dataset.coords[:, 1]
            px = 18 + (x[0] - x.min()) * (760 - 36) / (x.max() - x.min())
            py = 540 - 18 - (y[0] - y.min()) * (540 - 36) / (y.max() - y.min())
            page.mouse.move(float(box["x"] + px), float(box["y"] + py))
            tip = page.locator("#wb-map-tip")
            tip.wait_for(state="visible", timeout=5000)
            tip_text = tip.inner_text()
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert out["painted"] > 1000
    assert f"flagged by {r.primary} ({r.results[r.primary].n_flagged})" in out["legendFlagged"]
    assert "high = suspicious" in out["legendScore"]
    assert all(name in out["legendLabel"] for name in r.dataset.class_names)
    assert "sample" in tip_text and "given: " in tip_text


MARKUP_NAMES = ["<!--<script>", "</script><b>x", "a&b"]


def _markup_report(tmp_path=None):
    ds = probs_dataset(n=60, k=3, coords=True).with_signals(class_names=MARKUP_NAMES)
    r = audit(ds, compute_missing=False, progress=False)
    return r, render_report(r)


def test_map_data_block_holds_markup_in_class_names_as_data():
    """A class name holding ``<!--<script>`` put the HTML parser in its escaped-script state:
    the data block's ``</script>`` no longer ended it and the map stayed empty. The block now
    carries no ``<``, ``>`` or ``&`` at all and reads back unchanged."""
    _, html = _markup_report()
    block = _MAP_DATA.search(html)
    assert block is not None
    text = block.group(1)
    assert not set("<>&") & set(text)
    assert json.loads(text)["class_names"] == MARKUP_NAMES
    assert report_mod.json_for_html({"a": "<!--<script></script>&"}) == (
        '{"a":"\\u003c!--\\u003cscript\\u003e\\u003c/script\\u003e\\u0026"}'
    )
    c = parse(html)
    assert c.errors == [] and "wb-map-data" in c.ids


@pytest.mark.browser
def test_markup_in_class_names_leaves_the_report_map_working(tmp_path):
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    r, html = _markup_report()
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            out = page.evaluate(_PROBE_MAP)
            scripts = page.evaluate("document.scripts.length")
        finally:
            browser.close()
    assert errors == []
    assert out["painted"] > 100  # the map is drawn
    assert all(name in out["legendLabel"] for name in MARKUP_NAMES)  # shown as text
    assert scripts == 2  # the data block and the page's script: no injected one


# --- class health, HOC, duplicates ----------------------------------------------------------------
def _section(html: str, sid: str) -> str:
    m = re.search(f'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m is not None, sid
    return m.group(1)


def test_class_health_section_shows_the_score_noisiest_classes_and_pairs(full_result, full_html):
    h = full_result.class_health
    sec = _section(full_html, "class-health")
    assert f"{h['overall_label_health_score']:.3f}" in sec
    classes = h["classes_by_label_quality"]
    rows = re.findall(r"<tr><td>([^<]*)</td><td class=\"num\">", sec)
    assert rows[: len(classes)] == list(classes["class_name"])  # noisiest first
    pairs = h["overlapping_classes"]
    top = pairs[pairs["num_overlapping"] > 0].iloc[0]
    assert "Pairs of classes worth merging" in sec
    assert f"<td>{top.class_name_a}</td><td>{top.class_name_b}</td>" in sec
    assert f'<td class="num">{int(top.num_overlapping):,}</td>' in sec
    # no features: no HOC matrix, and the duplicates section says why
    assert "HOC noise transition matrix" not in full_html
    assert "No duplicate search" in _section(full_html, "duplicates")


def _duplicates_result(names, *, split: bool):
    """Features in three clusters, exact copies planted: 10/11 with different labels, 20/21
    with the same; with ``split``, 10 and 11 sit in different splits."""
    rng = np.random.default_rng(3)
    ds = probs_dataset(n=240, k=3, seed=3).with_signals(class_names=names)
    centers = rng.normal(0, 10, (3, 6))
    feats = centers[ds.true_labels] + rng.normal(0, 1, (240, 6))
    labels = ds.labels.copy()
    feats[11], labels[11] = feats[10], (labels[10] + 1) % 3
    feats[21], labels[21] = feats[20], labels[20]
    kwargs = {}
    if split:
        fold = np.where(np.arange(240) % 2 == 0, "train", "test")
        kwargs["metadata"] = __import__("pandas").DataFrame({"fold": fold})
    ds = Dataset(
        labels, pred_probs=ds.pred_probs, features=feats, true_labels=ds.true_labels,
        class_names=names, **kwargs,
    )  # fmt: skip
    return audit(
        ds, compute_missing=False, progress=False,
        detectors=["self_confidence", "near_duplicate"], split="fold" if split else None,
    )  # fmt: skip


def test_duplicates_section_lists_groups_with_different_labels_and_leakage():
    names = ["<!--<script>", "</script><b>x", "a&b"]
    r = _duplicates_result(names, split=True)
    html = render_report(r)
    assert parse(html).errors == []
    sec = _section(html, "duplicates")
    d = r.results["near_duplicate"].details
    group = d["group"]
    assert group[10] == group[11] >= 0 and d["conflicting_label"][[10, 11]].all()
    rows = re.findall(r'<tr><td class="num">(\d+)</td>', sec)
    expected = np.unique(group[d["conflicting_label"]])
    assert [int(g) for g in rows] == list(expected[: report_mod.TOP_GROUPS])
    if not d["conflicting_label"][20]:  # a copy with the same label is no conflict
        assert str(group[20]) not in rows
    # names escaped, never raw markup
    assert "<script>" not in sec and "</script><b>" not in sec
    for i in (10, 11):
        name = html_mod.escape(names[r.dataset.labels[i]])
        assert f"{i}: {name}" in sec
    # leakage between the splits of metadata column "fold"
    assert "Leakage between splits (column fold)" in sec
    assert f'<div class="v">{int(d["pair_crosses_split"].sum()):,}</div>' in sec
    assert f'<div class="v">{int(d["leaking"].sum()):,}</div>' in sec
    assert d["leaking"][[10, 11]].all()
    # without a split column: no leakage part
    assert "Leakage" not in _section(
        render_report(_duplicates_result(names, split=False)), "duplicates"
    )


def test_hoc_matrix_is_shown_beside_the_estimated_and_true_matrices():
    r = _duplicates_result(["a", "b", "c"], split=False)
    html = render_report(r)
    sec = _section(html, "matrices")
    titles = re.findall(r"<figcaption><b>([^<]*)</b>", sec)
    assert titles == [
        "Confusion matrix",
        "Estimated noise transition matrix",
        "HOC noise transition matrix",
        "True noise transition matrix",
    ]
    assert "two nearest neighbours in feature space" in sec
    assert "Clusterability as an Alternative to Anchor Points" in _section(html, "references")
