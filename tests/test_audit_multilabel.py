"""wb.audit() and the HTML report on multi-label data: the multi-label detectors run, the tables,
summary.json and report.html carry the multi-label sections (per-class issue table, per-class
2×2, co-occurrence, flagged samples with given and suggested sets), also on degenerate data."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analysis import multilabel as ml
from workbench.analysis.multilabel.matrices import class_counts, class_order, cooccurrence
from workbench.core.label_sets import label_set_strings
from workbench.pipeline.multilabel import MultilabelAudit

NAMES = ["cat", "dog", "tree", "car", "<b>sky</b>"]


def _data(n=400, k=5, seed=0, flip=0.05):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k))
    true = x > 0.4
    given = true ^ (rng.random(true.shape) < flip)
    probs = 1 / (1 + np.exp(-3 * (x - 0.4) + rng.normal(0, 0.8, x.shape)))
    return x, given, true, probs


class _Sections(HTMLParser):
    """Section ids and the text of a parsed page (fails on nothing, so count what is found)."""

    def __init__(self):
        super().__init__()
        self.ids, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.ids.append(dict(attrs).get("id"))

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Sections:
    p = _Sections()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    x, given, true, probs = _data()
    ds = wb.Dataset(given.astype(int), pred_probs=probs, features=x, true_labels=true.astype(int),
                    task="multilabel", class_names=NAMES)  # fmt: skip
    result = wb.audit(ds, progress=False)
    out = tmp_path_factory.mktemp("ml") / "out"
    files = result.write(out)
    return result, given, true, probs, out, files


def test_audit_runs_the_multilabel_detectors(audited):
    result, given, _, probs, _, _ = audited
    assert isinstance(result, MultilabelAudit)
    assert result.primary == "multilabel_confident_learning"
    assert {"multilabel_confident_learning", "multilabel_label_quality"} <= set(result.results)
    assert not result.failed
    assert all(not n.startswith("multilabel") for n in result.unavailable if n != "multilabel_aum"
               and "annotator" not in n and "dawid" not in n)  # fmt: skip
    np.testing.assert_array_equal(
        result.flagged_mask(), ml.find_label_issues(given, probs)
    )  # the primary's flags are the engine's masks
    assert result.computed["coords"] == "PCA of the features"
    assert result.dataset.coords.shape == (len(given), 2)
    np.testing.assert_array_equal(result.matrices["class_counts"], class_counts(given, probs))
    np.testing.assert_array_equal(result.matrices["cooccurrence"], given.T.astype(int) @ given)


def test_write_produces_tables_summary_and_report(audited):
    result, given, true, probs, out, files = audited
    assert files == ["scores.csv", "flagged.csv", "annotations.csv", "classes.csv", "metrics.csv",
                     "summary.json", "report.html"]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "multilabel" and summary["n_samples"] == len(given)
    assert summary["n_flagged"] == int(result.flagged_mask().sum()) > 0
    assert summary["n_true_errors"] == int((given != true).any(axis=1).sum())
    assert [c["given"] for c in summary["classes"]] == given.sum(axis=0).tolist()
    counts = class_counts(given, probs)
    assert [c["predicted_not_given"] for c in summary["classes"]] == counts[:, 0, 1].tolist()
    assert summary["cooccurrence"] == cooccurrence(given).tolist()
    assert summary["files"] == files


def test_report_shows_the_multilabel_sections(audited):
    result, given, true, probs, out, _ = audited
    html = (out / "report.html").read_text()
    page = _parse(html)
    assert page.ids == ["summary", "classes", "matrices", "detectors", "samples", "references"]
    text = " ".join(page.text)
    assert "<b>sky</b>" not in html and "&lt;b&gt;sky&lt;/b&gt;" in html  # names are escaped
    # per-class issue table: cleanlab's counts per class
    table = ml.rank_classes_by_multilabel_quality(given, probs)
    classes = html[html.index('id="classes"') : html.index('id="matrices"')]
    for _, row in table.iterrows():
        name = re.escape(NAMES[int(row["Class Index"])].replace("<", "&lt;").replace(">", "&gt;"))
        assert re.search(
            rf"<td>{name}</td><td class=\"num\">{int(given[:, int(row['Class Index'])].sum())}"
            rf"</td><td class=\"num\">{int(row['Label Issues'])}</td>"
            rf"<td class=\"num\">{int(row['Inverse Label Issues'])}</td>",
            classes,
        )
    # per-class 2×2: every class's four counts
    matrices = html[html.index('id="matrices"') : html.index('id="detectors"')]
    counts = class_counts(given, probs)
    assert matrices.count('class="two-by-two"') == len(NAMES)
    for c in range(len(NAMES)):
        z = counts[c]
        cells = [int(v.replace(",", "")) for v in re.findall(
            r'<td class="num[^"]*"[^>]*>([\d,]+)</td>',
            matrices.split('class="two-by-two"')[c + 1].split("</table>")[0])]  # fmt: skip
        assert cells == [z[1, 0], z[1, 1], z[0, 0], z[0, 1]]
    assert "Samples given both classes" in text and "<svg" in matrices
    # detectors against the truth, sample and annotation level
    assert "annotation" in html[html.index('id="detectors"') : html.index('id="samples"')]
    # flagged samples: the most suspicious first, with given, suggested, remove, add, truth
    flagged = result.flagged_table()
    samples = html[html.index('id="samples"') : html.index('id="references"')]
    first = flagged.iloc[0]
    row = samples.split("<tr>")[2]
    esc = lambda s: s.replace("<", "&lt;").replace(">", "&gt;") or "∅"  # noqa: E731
    assert f">{int(first['index'])}</td>" in row
    assert f"<td>{esc(first['label'])}</td><td>{esc(first['suggested'])}</td>" in row
    true_set = label_set_strings(true, NAMES)[int(first["index"])]
    assert esc(true_set) in row
    assert samples.count("<tr>") == 1 + min(50, len(flagged))


def test_audit_computes_pred_probs_with_the_sigmoid_probe():
    x, given, _, _ = _data(n=240, k=3, seed=1)
    ds = wb.Dataset(given.astype(int), features=x, task="multilabel")
    result = wb.audit(ds, progress=False, probe={"n_folds": 3, "epochs": 5})
    assert result.dataset.pred_probs.shape == (240, 3)
    assert "sigmoid probe" in result.computed["pred_probs"]
    assert "multilabel_confident_learning" in result.results
    html = _parse(wb.pipeline.report.render_report(result))
    assert "computed" in " ".join(html.text)


def test_audit_refuses_what_multilabel_data_cannot_do():
    _, given, _, probs = _data(n=100, k=3)
    ds = wb.Dataset(given.astype(int), pred_probs=probs, task="multilabel")
    with pytest.raises(ValueError, match="split= is not supported for a multi-label"):
        wb.audit(ds, split="fold", progress=False)
    with pytest.raises(ValueError, match="cl_prune_by_noise_rate"):
        wb.audit(ds, detectors=["cl_prune_by_noise_rate"], progress=False)


# --- degenerate data -------------------------------------------------------------------------
def _degenerate(kind):
    rng = np.random.default_rng(4)
    n, k = 300, 4
    if kind == "none":
        return np.zeros((n, k), int), rng.random((n, k))
    if kind == "every":
        return np.ones((n, k), int), rng.random((n, k))
    if kind == "one":
        truth = rng.random(n) < 0.3
        given = truth ^ (rng.random(n) < 0.1)
        return given[:, None].astype(int), np.clip(truth * 0.6 + rng.random(n) * 0.5, 0, 1)[:, None]
    big = rng.random((2000, 1000)) < 0.004
    return big.astype(int), np.clip(big * 0.7 + rng.random(big.shape) * 0.35, 0, 1)


@pytest.mark.parametrize("kind", ["none", "every", "one", "big"])
def test_audit_and_report_on_degenerate_data(kind, tmp_path):
    labels, probs = _degenerate(kind)
    n, k = labels.shape
    ds = wb.Dataset(labels, pred_probs=probs, task="multilabel",
                    class_names=[f"c{i}" for i in range(k)])  # fmt: skip
    result = wb.audit(ds, progress=False)
    assert not result.failed, result.failed
    assert {"multilabel_confident_learning", "multilabel_label_quality"} <= set(result.results)
    np.testing.assert_array_equal(result.flagged_mask(), ml.find_label_issues(labels, probs))
    files = result.write(tmp_path)
    assert {"scores.csv", "flagged.csv", "classes.csv", "summary.json", "report.html"} <= set(files)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_without_label"] == int((labels.sum(axis=1) == 0).sum())
    assert (summary["cooccurrence"] is None) == (k > 100)
    html = (tmp_path / "report.html").read_text()
    page = _parse(html)
    assert page.ids == ["summary", "classes", "matrices", "detectors", "samples", "references"]
    flagged = pd.read_csv(tmp_path / "flagged.csv", keep_default_na=False)
    assert len(flagged) == int(result.flagged_mask().sum())
    matrices = html[html.index('id="matrices"') : html.index('id="detectors"')]
    assert matrices.count('class="two-by-two"') == min(k, 20)
    if kind == "big":  # the 20 classes most off their diagonal, 40 most frequent co-occurring
        shown = re.findall(r'class="two-by-two"><caption>(c\d+)</caption>', matrices)
        assert shown == [f"c{c}" for c in class_order(labels, probs, 0.5, 20)]
        assert "Showing the 40 most frequent of 1,000 classes" in matrices
        assert "Showing the 25 worst of 1,000 classes" in html
    if kind == "none":
        assert "0.00" in " ".join(page.text)  # labels per sample


def test_the_workbench_opens_on_a_multilabel_audit(audited):
    from workbench.ui._common import as_session
    from workbench.ui.app import Workbench

    result = audited[0]
    session = as_session(result)
    assert session.dataset is result.dataset and session.active == result.primary
    assert set(session.results) == set(result.results)
    bench = Workbench(result)
    assert bench.session.active == result.primary and "Review" in bench.views
    bench.close()


def test_report_shows_ids_and_previews_of_flagged_samples():
    from workbench.pipeline.report import render_report

    _, given, _, probs = _data(n=120, k=3, seed=3, flip=0.1)
    images = list(np.random.default_rng(0).random((120, 8, 8)))
    ids = np.array([f"img-{i:03d}" for i in range(120)])
    ds = wb.Dataset(given.astype(int), pred_probs=probs, task="multilabel", ids=ids,
                    previews=images)  # fmt: skip
    result = wb.audit(ds, progress=False)
    html = render_report(result, top=5)
    samples = html[html.index('id="samples"') : html.index('id="references"')]
    flagged = result.flagged_table()
    assert len(flagged) > 5 and samples.count("<tr>") == 1 + 5
    assert "<th>id</th>" in samples and f"<td>{flagged['id'].iloc[0]}</td>" in samples
    assert samples.count("data:image/png;base64,") == 5
    assert f"(of {len(flagged):,} flagged; flagged.csv lists them all)" in samples


def test_tables_answer_to_the_one_label_names(audited):
    result = audited[0]
    pd.testing.assert_frame_equal(result.scores_frame(), result.scores_table())
    pd.testing.assert_frame_equal(result.flagged_frame(3), result.flagged_table(3))
    assert len(result.flagged_frame(3)) == 3


def test_audit_says_what_the_label_set_detectors_need():
    labels = np.eye(4, dtype=int)[[0, 1, 2, 3] * 5]
    ds = wb.Dataset(labels, task="multilabel")
    with pytest.raises(ValueError, match="No detector can run on this multi-label dataset") as err:
        wb.audit(ds, progress=False)
    text = str(err.value)
    assert "multilabel_confident_learning: Needs pred_probs" in text
    assert "multilabel_knn_disagreement: Needs features" in text
    assert "cl_prune_by_noise_rate" not in text and ".;" not in text
