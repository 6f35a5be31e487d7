"""The static audit report: one self-contained HTML file, readable without a kernel or network.

Charts are drawn here as SVG (heatmaps, precision-recall curves) and, for the 2-D map, as a
canvas filled by a few lines of inline JavaScript from data embedded in the page; images are
inline PNG data URLs (:mod:`workbench.core.previews`). Nothing is fetched when the page opens.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np

from workbench.analysis.derived import analysis_of
from workbench.analysis.detectors import detector_attr, detector_kind, label_error_detectors
from workbench.analysis.matrices import MATRICES
from workbench.core.atomic import atomic_file
from workbench.core.previews import preview_html
from workbench.pipeline.charts import escape, fmt_number, heatmap_svg, pr_curves_svg

__all__ = [
    "MAX_MAP_POINTS",
    "REFERENCES",
    "render_multilabel_report",
    "render_report",
    "write_report",
]

#: The map shows at most this many points; above it, a subsample (all flagged samples first).
MAX_MAP_POINTS = 50_000
#: Heatmaps show at most this many classes; above it, the classes with most off-diagonal mass.
MAX_MATRIX_CLASSES = 40

#: Papers behind the parts of the audit that are not detectors (detectors carry their own).
REFERENCES = {
    "confident_learning": "Northcutt, Jiang, Chuang - Confident Learning: Estimating Uncertainty "
    "in Dataset Labels (JAIR 2021)",
    "transition": "Patrini et al. - Making Deep Neural Networks Robust to Label Noise: a Loss "
    "Correction Approach (CVPR 2017)",
    "test_set_errors": "Northcutt, Athalye, Mueller - Pervasive Label Errors in Test Sets "
    "Destabilize Machine Learning Benchmarks (NeurIPS 2021)",
    "hoc": "Zhu, Song, Liu - Clusterability as an Alternative to Anchor Points When Learning "
    "with Noisy Labels (ICML 2021)",
}

#: The class-health section lists this many of the noisiest classes and of the overlapping pairs.
TOP_CLASSES = 10
#: The duplicates section lists at most this many near-duplicate groups with different labels.
TOP_GROUPS = 20
#: Members shown per near-duplicate group (the group's size is always said).
GROUP_MEMBERS = 8


def write_report(audit_result, path, *, top: int = 50, max_points: int = MAX_MAP_POINTS) -> Path:
    """Write the HTML report of ``audit_result`` to ``path`` atomically (temp file + rename).

    Parameters
    ----------
    audit_result : workbench.AuditResult
    path : str or path-like
        Destination file; its folder must exist.
    top : int, default=50
        How many of the most suspicious flagged samples to show with their previews.
    max_points : int, default=50_000
        Points drawn on the map at most (a seeded subsample above it, said so on the page).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"path={str(path)!r}: folder {str(path.parent)!r} does not exist.")
    text = render_report(audit_result, top=top, max_points=max_points)
    with atomic_file(path, "w") as fh:
        fh.write(text)
    return path


def render_report(audit_result, *, top: int = 50, max_points: int = MAX_MAP_POINTS) -> str:
    """The report of ``audit_result`` as one HTML string (see :func:`write_report`)."""
    # Duck-typed: the result module imports this one, not the other way round.
    if not all(hasattr(audit_result, a) for a in ("dataset", "results", "matrices", "summary")):
        raise TypeError(
            f"audit_result must be a workbench.AuditResult, found {type(audit_result).__name__}."
        )
    if not isinstance(top, (int, np.integer)) or isinstance(top, bool) or top < 0:
        raise ValueError(f"top must be an integer >= 0, found {top!r}.")
    if not isinstance(max_points, (int, np.integer)) or max_points < 100:
        raise ValueError(f"max_points must be an integer >= 100, found {max_points!r}.")
    r = audit_result
    ds = r.dataset
    if getattr(ds, "is_multilabel", False):
        return render_multilabel_report(r, top=top)
    css = _template("report.css")
    js = _template("report.js")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    from workbench.core.version import __version__

    sections = [
        _summary_section(r),
        _matrices_section(r),
        _class_health_section(r),
        _duplicates_section(r),
        _map_section(r, max_points),
        _detectors_section(r),
        _samples_section(r, top),
        _references_section(r),
    ]
    nav = "".join(
        f'<a href="#{sid}">{title}</a>'
        for sid, title in [
            ("summary", "Summary"),
            ("matrices", "Noise structure"),
            ("class-health", "Class health"),
            ("duplicates", "Duplicates"),
            ("map", "Map"),
            ("detectors", "Detectors"),
            ("samples", "Most suspicious samples"),
            ("references", "References"),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Label-noise audit: {ds.n_samples:,} samples, {ds.n_classes} classes</title>"
        f"<style>{css}</style></head><body>"
        "<header><h1>Label-noise audit</h1>"
        f'<p class="sub">{ds.n_samples:,} samples · {ds.n_classes} classes · generated {stamp} '
        f"by label-noise-workbench {escape(__version__)} · seed {escape(r.seed)}"
        f"{' · device ' + escape(r.device) if r.device else ''}</p><nav>{nav}</nav></header>"
        f"<main>{''.join(sections)}</main>"
        f"<script>{js}</script></body></html>\n"
    )


# --- sections ------------------------------------------------------------------------------------
def _summary_section(r) -> str:
    ds = r.dataset
    n_flag = int(r.flagged_mask().sum())
    cards = [
        (f"{ds.n_samples:,}", "samples (N)"),
        (f"{ds.n_classes}", "classes (K)"),
    ]
    if r.estimated_num_errors is not None:
        share = r.estimated_num_errors / ds.n_samples
        cards.append((f"{r.estimated_num_errors:,}", f"estimated label errors ({share:.1%})"))
    cards.append((f"{n_flag:,}", f"flagged by {r.primary}"))
    if ds.has_truth:
        cards.append((f"{int(ds.is_noisy.sum()):,}", "true label errors (known truth)"))
    estimate = (
        '<p class="note">The estimated number of label errors is the off-diagonal mass of the '
        "confident joint of the given labels and the out-of-sample predicted probabilities "
        "(confident learning [1]).</p>"
        if r.estimated_num_errors is not None
        else '<p class="note">No estimate of the number of label errors: it needs pred_probs.</p>'
    )
    return _summary_html(r, cards, estimate)


def _summary_html(r, cards, note: str, *, multilabel: bool = False) -> str:
    """The summary section of either report: ``cards`` ((value, caption) pairs), the ``note``
    paragraph under them, the signals table and the detectors that ran, could not run and
    failed.

    ``multilabel``: the multi-label report's wording: every trajectories signal names the probe
    (the single-label report says "same probe run" after the first), and the detectors that
    could not run are grouped by reason (the single-label detectors share one there).
    """
    from workbench.core.dataset import SIGNALS

    ds = r.dataset
    card_html = "".join(
        f'<div class="card"><div class="v">{escape(v)}</div><div class="k">{escape(k)}</div></div>'
        for v, k in cards
    )
    rows = []
    said_trajectories = False
    for s in SIGNALS:
        if s in r.computed:
            status, how = "computed", r.computed[s]
        elif s.startswith("trajectories.") and "trajectories" in r.computed and ds.has(s):
            status = "computed"
            if said_trajectories and not multilabel:
                how = "same probe run"
            else:
                how = r.computed["trajectories"]
            said_trajectories = True
        elif ds.has(s):
            status, how = "given", ""
        else:
            status, how = "missing", r.not_computed.get(s, SIGNALS[s])
        rows.append(
            f'<tr><td>{escape(s)}</td><td><span class="tag {status}">{status}</span></td>'
            f"<td>{escape(how)}</td></tr>"
        )
    ran = "".join(
        f'<tr><td>{escape(name)}</td><td class="num">{res.n_flagged:,}</td>'
        f"<td>{escape(detector_attr(name, 'summary'))}</td></tr>"
        for name, res in r.results.items()
    )
    unavailable = list(r.unavailable.items())
    if multilabel:  # one row per reason: the single-label detectors share one
        grouped: dict[str, list[str]] = {}
        for name, why in unavailable:
            grouped.setdefault(why, []).append(name)
        unavailable = [(", ".join(names), why) for why, names in grouped.items()]
    blocked = "".join(
        f"<tr><td>{escape(names)}</td><td>{escape(why)}</td></tr>" for names, why in unavailable
    )
    failed = "".join(
        f'<tr><td>{escape(name)}</td><td class="mismatch">{escape(msg)}</td></tr>'
        for name, msg in r.failed.items()
    )
    return (
        '<section id="summary"><h2>Summary</h2>'
        f'<div class="cards">{card_html}</div>{note}'
        "<h3>Signals</h3><table><tr><th>signal</th><th>status</th><th>how / why not</th></tr>"
        f"{''.join(rows)}</table>"
        f"<h3>Detectors that ran ({len(r.results)})</h3>"
        + (
            '<table><tr><th>detector</th><th class="num">flagged</th><th>what the score '
            f"measures (higher = more likely mislabeled)</th></tr>{ran}</table>"
            if r.results
            else '<p class="note">None.</p>'
        )
        + (
            f"<h3>Detectors that could not run ({len(r.unavailable)})</h3>"
            f"<table><tr><th>{'detectors' if multilabel else 'detector'}</th><th>why</th></tr>"
            f"{blocked}</table>"
            if r.unavailable
            else ""
        )
        + (
            f"<h3>Detectors that failed ({len(r.failed)})</h3>"
            f"<table><tr><th>detector</th><th>error</th></tr>{failed}</table>"
            if r.failed
            else ""
        )
        + "</section>"
    )


def _matrices_section(r) -> str:
    ds = r.dataset
    names = list(ds.class_names)
    figs = []
    formats = {
        "confusion": "d",
        "estimated_transition": ".2f",
        "hoc_transition": ".2f",
        "true_transition": ".2f",
    }
    for key, fmt in formats.items():
        if key in r.matrices:
            m = MATRICES[key]
            cite = " [1]" if key == "estimated_transition" else ""
            figs.append(
                _figure(
                    m.title,
                    f"Row i, column j: {m.cell}; {m.source}{cite}.",
                    r.matrices[key],
                    names,
                    row_title=m.rows,
                    col_title=m.columns,
                    fmt=fmt,
                )
            )
    skipped = getattr(r, "skipped", {}).get("hoc_transition")
    hoc_note = f'<p class="note">No HOC matrix: {escape(skipped)}.</p>' if skipped else ""
    if not figs:
        body = '<p class="note">No matrices: they need pred_probs (or known true labels).</p>'
    else:
        body = (
            '<p class="note">Diagonal cells are blue (scaled to 1 for probabilities, to the '
            "largest diagonal count for counts); off-diagonal cells, where the label noise is, are "
            "red and scaled to the largest off-diagonal cell so that small noise rates show. Hover "
            "a cell for its value.</p>"
            f'<div class="figs">{"".join(figs)}</div>{hoc_note}'
        )
    return f'<section id="matrices"><h2>Noise structure</h2>{body}</section>'


def _class_health_section(r) -> str:
    health = getattr(r, "class_health", None)
    if health is None:
        return (
            '<section id="class-health"><h2>Class health</h2><p class="note">No class health: '
            "it needs pred_probs.</p></section>"
        )
    score = float(health["overall_label_health_score"])
    classes = health["classes_by_label_quality"].head(TOP_CLASSES)
    rows = "".join(
        f"<tr><td>{escape(c.class_name)}</td>"
        f'<td class="num">{fmt_number(c.label_quality, ".3f")}</td>'
        f'<td class="num">{int(c.label_issues):,}</td>'
        f'<td class="num">{int(c.inverse_label_issues):,}</td></tr>'
        for c in classes.itertuples(index=False)
    )
    pairs = health["overlapping_classes"]
    pairs = pairs[pairs["num_overlapping"] > 0].head(TOP_CLASSES)
    k = r.dataset.n_classes
    if len(pairs):
        pair_rows = "".join(
            f"<tr><td>{escape(p.class_name_a)}</td><td>{escape(p.class_name_b)}</td>"
            f'<td class="num">{int(p.num_overlapping):,}</td>'
            f'<td class="num">{p.joint_probability:.2%}</td></tr>'
            for p in pairs.itertuples(index=False)
        )
        merge = (
            f"<h3>Pairs of classes worth merging (top {len(pairs)})</h3>"
            '<p class="note">Pairs whose samples are often given one label while truly the '
            "other (estimated); at the top, the classes may be one, or their definitions need "
            "sharpening.</p><table><tr><th>class a</th><th>class b</th>"
            '<th class="num">overlapping samples</th><th class="num">share of the dataset</th>'
            f"</tr>{pair_rows}</table>"
        )
    else:
        merge = '<p class="note">No pair of classes overlaps (no estimated confusion).</p>'
    shown = f"the {len(classes)} noisiest of {k}" if len(classes) < k else f"all {k}"
    return (
        '<section id="class-health"><h2>Class health</h2>'
        f'<div class="cards"><div class="card"><div class="v">{score:.3f}</div>'
        '<div class="k">overall label health (1 - estimated share of wrong labels)</div></div>'
        "</div>"
        '<p class="note">From the confident joint of the given labels and the out-of-sample '
        "pred_probs [1], as cleanlab's health_summary. Label quality of a class = 1 - the "
        "estimated share of its samples whose true class is another (lower = noisier); summary.json "
        "holds every class and pair.</p>"
        f"<h3>Classes by label quality ({shown}, noisiest first)</h3>"
        '<table><tr><th>class</th><th class="num">label quality</th>'
        '<th class="num">given this label, truly another</th>'
        f'<th class="num">truly this class, given another</th></tr>{rows}</table>'
        f"{merge}</section>"
    )


def _duplicates_section(r) -> str:
    res = r.results.get("near_duplicate")
    if res is None:
        why = r.unavailable.get("near_duplicate") or r.failed.get("near_duplicate")
        why = why or "the near_duplicate detector was not run"
        return (
            '<section id="duplicates"><h2>Duplicates</h2>'
            f'<p class="note">No duplicate search: {escape(why)}</p></section>'
        )
    ds, d = r.dataset, res.details
    group, conflicting = np.asarray(d["group"]), np.asarray(d["conflicting_label"])
    n_groups = int(group.max()) + 1 if group.size else 0
    bad = np.unique(group[conflicting & (group >= 0)])
    names = list(ds.class_names)
    ids = ds.sample_ids() if ds.ids is not None else None
    rows = []
    for g in bad[:TOP_GROUPS]:
        members = np.flatnonzero(group == g)
        shown = members[:GROUP_MEMBERS]
        who = ", ".join(
            f"{i}" + (f" ({ids[i]})" if ids is not None else "") + f": {names[ds.labels[i]]}"
            for i in shown
        )
        more = f", … ({len(members)} in all)" if len(members) > len(shown) else ""
        labels = sorted({names[c] for c in ds.labels[members]})
        rows.append(
            f'<tr><td class="num">{int(g)}</td><td class="num">{len(members)}</td>'
            f"<td>{escape(', '.join(labels))}</td><td>{escape(who + more)}</td></tr>"
        )
    n_pairs = len(d["pairs"])
    intro = (
        f'<p class="note">{n_pairs:,} near-duplicate pairs in {n_groups:,} groups '
        f"({res.n_flagged:,} samples; closer than {fmt_number(d['radius'], '.3g')}, a fraction of "
        "the median distance to the nearest neighbour in feature space). A duplicate is not a "
        "label error in itself, but two copies with <b>different labels</b> hold at least one "
        f"wrong label: {int(conflicting.sum()):,} samples in {len(bad):,} groups.</p>"
    )
    table = (
        f"<h3>Groups whose members carry different labels"
        f"{f' (first {TOP_GROUPS} of {len(bad):,})' if len(bad) > TOP_GROUPS else ''}</h3>"
        '<table><tr><th class="num">group</th><th class="num">size</th><th>labels</th>'
        f"<th>members (index{' (id)' if ids is not None else ''}: given label)</th></tr>"
        f"{''.join(rows)}</table>"
        if rows
        else ""
    )
    leak = ""
    if "pair_crosses_split" in d:
        split = res.params.get("split") if isinstance(res.params, dict) else None
        crossing = int(np.count_nonzero(d["pair_crosses_split"]))
        leaking = int(np.count_nonzero(d["leaking"]))
        leak = (
            f"<h3>Leakage between splits{f' (column {escape(split)})' if split else ''}</h3>"
            f'<div class="cards"><div class="card"><div class="v">{crossing:,}</div>'
            '<div class="k">near-duplicate pairs across splits</div></div>'
            f'<div class="card"><div class="v">{leaking:,}</div>'
            '<div class="k">samples with a near duplicate in another split</div></div></div>'
            '<p class="note">A test sample with a near copy in training inflates the test '
            "score.</p>"
        )
    return f'<section id="duplicates"><h2>Duplicates</h2>{intro}{table}{leak}</section>'


def _figure(title, caption, m, names, *, row_title, col_title, fmt) -> str:
    m = np.asarray(m, dtype=np.float64)
    keep = np.arange(len(names))
    note = ""
    if len(names) > MAX_MATRIX_CLASSES:
        off = m.copy()
        np.fill_diagonal(off, 0)
        mass = off.sum(axis=0) + off.sum(axis=1)
        keep = np.sort(np.argsort(-mass, kind="stable")[:MAX_MATRIX_CLASSES])
        note = (
            f" Showing the {MAX_MATRIX_CLASSES} of {len(names)} classes with the most "
            "off-diagonal mass; summary.json holds the full matrix."
        )
    svg = heatmap_svg(
        m[np.ix_(keep, keep)],
        [names[i] for i in keep],
        row_title=row_title,
        col_title=col_title,
        fmt=fmt,
        probabilities=fmt != "d",
    )
    return (
        f"<figure><figcaption><b>{escape(title)}</b>{escape(caption + note)} Rows: {escape(row_title)}; "
        f"columns: {escape(col_title)}.</figcaption>{svg}</figure>"
    )


def json_for_html(payload) -> str:
    """``payload`` as JSON safe inside an HTML ``<script type="application/json">`` block.

    ``<``, ``>`` and ``&`` are written as ``\\u003c``, ``\\u003e`` and ``\\u0026`` (JSON
    reads them back unchanged): no text a user controls, such as a class name holding
    ``</script>``, ``<!--`` or ``<script``, can end the block early or put the HTML parser in
    its "escaped script" state, in which the block's end tag no longer ends it.
    """
    text = json.dumps(payload, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _map_section(r, max_points: int) -> str:
    ds = r.dataset
    if ds.coords is None:
        why = r.not_computed.get("coords", "the dataset has no 2-D coords")
        return f'<section id="map"><h2>Map</h2><p class="note">No map: {escape(why)}.</p></section>'
    n = ds.n_samples
    primary = r.results[r.primary]
    if n > max_points:
        rng = np.random.default_rng(r.seed)
        flagged = np.flatnonzero(primary.flags)
        if len(flagged) > max_points // 2:
            flagged = np.sort(rng.choice(flagged, max_points // 2, replace=False))
        rest = np.setdiff1d(np.arange(n), flagged, assume_unique=True)
        rest = rng.choice(rest, max_points - len(flagged), replace=False)
        idx = np.sort(np.concatenate([flagged, rest]))
        sub = (
            f"Showing {len(idx):,} of {n:,} samples: {len(flagged):,} flagged by {r.primary} and "
            f"a random sample (seed {r.seed}) of the others."
        )
    else:
        idx = np.arange(n)
        sub = f"All {n:,} samples."
    payload = {
        "x": _b64(ds.coords[idx, 0], np.float32),
        "y": _b64(ds.coords[idx, 1], np.float32),
        "labels": _b64(ds.labels[idx], np.int32),
        "index": _b64(idx, np.int32),
        # the user's sample ids (the tooltip names them beside the position), or null
        "ids": None if ds.ids is None else [str(v) for v in ds.ids[idx].tolist()],
        "suggested": _b64(r.suggested_labels()[idx], np.int32),
        "primary": r.primary,
        "primary_score": _b64(primary.scores[idx], np.float32),
        "class_names": list(ds.class_names),
        "n_total": n,
        "detectors": {
            name: {
                "n_flagged": res.n_flagged,
                "flags": _b64(res.flags[idx], np.uint8),
                "pct": _b64(_percentile_u8(res.scores)[idx], np.uint8),
            }
            for name, res in r.results.items()
        },
    }
    data = json_for_html(payload)
    options = "".join(
        f'<option value="{escape(name)}"{" selected" if name == r.primary else ""}>{escape(name)}</option>'
        for name in r.results
    )
    how = r.computed.get("coords", "coords given with the dataset")
    return (
        '<section id="map"><h2>Map</h2>'
        f'<p class="note">{escape(sub)} Position: {escape(how)} (the two axes have no units; nearby '
        "points have similar inputs). Hover a point for the sample.</p>"
        '<div class="controls"><label>colour by <select id="wb-map-mode">'
        '<option value="flagged" selected>flagged</option><option value="score">score</option>'
        '<option value="label">given label</option></select></label>'
        f'<label>detector <select id="wb-map-detector">{options}</select></label></div>'
        '<div class="map-wrap"><div class="map-box"><canvas id="wb-map" width="760" height="540">'
        '</canvas><div id="wb-map-tip"></div></div><div id="wb-map-legend"></div></div>'
        f'<script type="application/json" id="wb-map-data">{data}</script></section>'
    )


def _detectors_section(r) -> str:
    ds = r.dataset
    if r.quality is None:
        why = (
            "both clean and mislabeled samples among the known true labels"
            if ds.has_truth
            else "true labels"
        )
        table = _flag_counts_table(
            r, "suggests labels", lambda res: res.suggested_labels is not None
        )
        return (
            '<section id="detectors"><h2>Detector comparison</h2>'
            f'<p class="note">Precision and recall need {why}; shown: how many each flags.</p>'
            f"{table}{_overlap_table(r)}</section>"
        )
    q = r.quality.copy()
    if "detector" not in q.columns:
        q = q.reset_index().rename(columns={"index": "detector"})
    sort_col = "ap" if "ap" in q.columns else q.columns[-1]
    q = q.sort_values(sort_col, ascending=False, kind="stable")
    cols = [c for c in q.columns if c != "detector"]
    head = (
        "<tr><th>detector</th>"
        + "".join(f'<th class="num">{escape(c)}</th>' for c in cols)
        + "</tr>"
    )
    # the best is the best label-error detector: an ambiguity or outlier score is not a candidate
    best_name = next(iter(label_error_detectors(q["detector"])), None)
    body = []
    for _, row in q.iterrows():
        cells = "".join(
            f'<td class="num">{fmt_number(row[c], "d" if c.startswith("n_") else ".3f")}</td>'
            for c in cols
        )
        name = row["detector"]
        best = ' class="best"' if name == best_name else ""
        kind = detector_kind(name)
        note = "" if kind == "label_error" else f" ({kind}, not label errors)"
        body.append(f"<tr{best}><td>{escape(name)}{note}</td>{cells}</tr>")
    base = float(ds.is_noisy[analysis_of(ds).known_truth].mean())
    ap = dict(zip(q["detector"], q["ap"], strict=True)) if "ap" in q.columns else None
    curves = pr_curves_svg(r.pr_curves, baseline=base, ap=ap) if r.pr_curves else ""
    return (
        '<section id="detectors"><h2>Detector comparison</h2>'
        '<p class="note">Against the known true labels (a sample is a label error when its given '
        f"label differs from its true label; {base:.1%} of the known samples are). Sorted by "
        f"{escape(sort_col)}; the best label-error detector is highlighted. ap = average precision, "
        "auroc = area under the ROC curve, precision@k with k = the number of true errors. An "
        "ambiguity score ranks unclear samples and an outlier score unusual ones, not wrong "
        "labels: they are not expected to score well here.</p>"
        f"<table>{head}{''.join(body)}</table>"
        f"<h3>Precision-recall curves</h3>{curves}{_overlap_table(r)}</section>"
    )


def _flag_counts_table(r, question: str, answer) -> str:
    """The detector comparison without truth: per detector, how many samples it flags, their
    share of the N samples, and ``question`` (a column header) answered yes or no by
    ``answer(result)``."""
    n = max(r.dataset.n_samples, 1)
    rows = "".join(
        f'<tr><td>{escape(name)}</td><td class="num">{res.n_flagged:,}</td>'
        f'<td class="num">{res.n_flagged / n:.1%}</td>'
        f"<td>{'yes' if answer(res) else 'no'}</td></tr>"
        for name, res in r.results.items()
    )
    return (
        '<table><tr><th>detector</th><th class="num">flagged</th><th class="num">share</th>'
        f"<th>{escape(question)}</th></tr>{rows}</table>"
    )


def _overlap_table(r) -> str:
    if not 2 <= len(r.results) <= 62:  # flag_overlap's limit
        return ""
    from workbench.analysis.metrics import flag_overlap

    names = list(r.results)
    jac = flag_overlap({n: r.results[n].flags for n in names}).jaccard.to_numpy()
    svg = heatmap_svg(
        jac, names, row_title="detector", col_title="detector", fmt=".2f", max_label=28
    )
    return (
        "<h3>Agreement between detectors</h3><figure><figcaption>Jaccard overlap of the flagged "
        "sets: |A ∩ B| / |A ∪ B| (1 = the same samples, 0 = none in common; empty cells are 0). "
        "The diagonal is 1 by definition.</figcaption>"
        f"{svg}</figure>"
    )


def _samples_section(r, top: int) -> str:
    ds = r.dataset
    flagged = r.flagged_frame()
    n_flag = len(flagged)
    shown = flagged.head(top)
    if n_flag == 0:
        return (
            '<section id="samples"><h2>Most suspicious samples</h2>'
            f'<p class="note">{escape(r.primary)} flags no sample.</p></section>'
        )
    truth = ds.true_labels is not None
    voters = label_error_detectors(r.results)  # as n_detectors_flagging counts
    d = len(voters)
    named = ds.ids is not None  # the user's sample ids beside the positions
    head = (
        "<tr><th>rank</th>"
        + ("<th>id</th>" if named else "")
        + "<th>index</th><th>preview</th><th>given label</th>"
        "<th>suggested label</th>"
        + ("<th>true label</th>" if truth else "")
        + f'<th class="num">{escape(r.primary)} score</th><th class="num">detectors flagging</th></tr>'
    )
    rows = []
    score_col = f"{r.primary}_score"
    for _, row in shown.iterrows():
        i = int(row["index"])
        preview = preview_html(ds.previews[i], size=44) if ds.previews is not None else "—"
        sug = row["suggested_label_name"] or "—"
        cells = [
            f'<td class="num">{int(row["rank"])}</td>',
            *([f"<td>{escape(str(row['id']))}</td>"] if named else []),
            f'<td class="num">{i}</td>',
            f'<td class="preview">{preview}</td>',
            f"<td>{escape(row['label_name'])}</td>",
            f"<td>{escape(sug)}</td>",
        ]
        if truth:
            t = int(row["true_label"])
            tname = ds.class_names[t] if t >= 0 else "unknown"
            cls = ' class="mismatch"' if t >= 0 and t != int(row["label"]) else ""
            cells.append(f"<td{cls}>{escape(tname)}</td>")
        who = ", ".join(n for n in voters if row[f"{n}_flag"])
        cells.append(f'<td class="num">{fmt_number(row[score_col], ".4g")}</td>')
        cells.append(
            f'<td class="num" title="{escape(who)}">{int(row["n_detectors_flagging"])} / {d}</td>'
        )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f" (of {n_flag:,} flagged; flagged.csv lists them all)" if n_flag > len(shown) else ""
    legend = " True labels in red differ from the given label." if truth else ""
    return (
        '<section id="samples"><h2>Most suspicious samples</h2>'
        f'<p class="note">The {len(shown):,} samples flagged by {escape(r.primary)} with the highest '
        f"scores{escape(more)}. The suggested label is {escape(r.primary)}'s where it has one, else the "
        f"most common suggestion of the other detectors.{legend} Hover the count for the "
        "detectors' names.</p>"
        f'<div class="scroll"><table class="samples">{head}{"".join(rows)}</table></div></section>'
    )


def _references_section(r) -> str:
    used: dict[str, list[str]] = {}
    if r.matrices or r.estimated_num_errors is not None:
        used[REFERENCES["confident_learning"]] = ["matrices", "estimated number of errors"]
    if "estimated_transition" in r.matrices:
        used[REFERENCES["transition"]] = ["estimated transition matrix"]
    if "hoc_transition" in r.matrices:
        used[REFERENCES["hoc"]] = ["HOC transition matrix"]
    if getattr(r, "class_health", None) is not None:
        used.setdefault(REFERENCES["confident_learning"], []).append("class health")
    for name in r.results:
        for ref in detector_attr(name, "reference").split(";"):
            if ref.strip():
                used.setdefault(ref.strip(), []).append(name)
    used.setdefault(REFERENCES["test_set_errors"], []).append("how label errors are verified")
    merged: dict[str, tuple[str, list[str]]] = {}  # the same paper cited in different words
    for ref, who in used.items():
        key = " ".join(re.findall(r"[a-z0-9]+", ref.lower())[:5])
        text, names = merged.setdefault(key, (ref, []))
        names.extend(w for w in who if w not in names)
    items = "".join(
        f'<li>{escape(text)} <span class="used">({escape(", ".join(who))})</span></li>'
        for text, who in merged.values()
    )
    return (
        '<section id="references"><h2>References</h2>'
        '<p class="note">The methods behind this report, and where each is used.</p>'
        f'<ol class="refs">{items}</ol></section>'
    )


# --- multi-label ---------------------------------------------------------------------------------
#: Per-class 2×2 matrices shown at most (the classes with most samples off their diagonal).
ML_MATRIX_CLASSES = 20
#: Rows of the per-class issue table shown at most (the worst classes; classes.csv has all).
ML_TABLE_CLASSES = 25


def render_multilabel_report(r, *, top: int = 50) -> str:
    """The report of a multi-label audit (:class:`workbench.pipeline.multilabel.MultilabelAudit`)
    as one HTML string: summary, per-class issue table, per-class 2×2 matrices, class
    co-occurrence, detector comparison, the ``top`` flagged samples with their given and
    suggested sets, references."""
    ds = r.dataset
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    from workbench.core.version import __version__

    parts = [
        ("summary", "Summary", _ml_summary_section(r)),
        ("classes", "Classes", _ml_classes_section(r)),
        ("matrices", "Per-class matrices", _ml_matrices_section(r)),
        ("detectors", "Detectors", _ml_detectors_section(r)),
        ("samples", "Flagged samples", _ml_samples_section(r, top)),
        ("references", "References", _ml_references_section(r)),
    ]
    nav = "".join(f'<a href="#{sid}">{title}</a>' for sid, title, _ in parts)
    device = getattr(r, "device", None)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Multi-label audit: {ds.n_samples:,} samples, {ds.n_classes} classes</title>"
        f"<style>{_template('report.css')}</style></head><body>"
        "<header><h1>Label-noise audit (multi-label)</h1>"
        f'<p class="sub">{ds.n_samples:,} samples · {ds.n_classes} classes · label sets · '
        f"generated {stamp} by label-noise-workbench {escape(__version__)} · seed "
        f"{escape(getattr(r, 'seed', None))}{' · device ' + escape(device) if device else ''}"
        f"</p><nav>{nav}</nav></header>"
        f"<main>{''.join(body for _, _, body in parts)}</main></body></html>\n"
    )


def _ml_summary_section(r) -> str:
    ds = r.dataset
    Y = ds.labels
    n = ds.n_samples
    sizes = Y.sum(axis=1)
    cards = [
        (f"{n:,}", "samples (N)"),
        (f"{ds.n_classes:,}", "classes (K)"),
        (f"{sizes.mean():.2f}" if n else "—", "labels per sample (mean)"),
        (f"{int(np.count_nonzero(sizes == 0)):,}", "samples without any label"),
    ]
    if r.primary is not None:
        cards.append((f"{int(r.flagged_mask().sum()):,}", f"flagged by {r.primary}"))
    else:
        cards.append(("—", "flagged: no detector ran"))
    if ds.true_labels is not None and ds.has_truth:
        cards.append((f"{int(ds.is_noisy.sum()):,}", "label sets with a true error (known)"))
    note = (
        '<p class="note">Every sample carries a set of classes (possibly empty). Each class is '
        "checked as its own yes/no question; a sample is flagged when some class looks wrongly "
        "given or wrongly missing.</p>"
    )
    return _summary_html(r, cards, note, multilabel=True)


def _ml_classes_section(r) -> str:
    ds = r.dataset
    table = r.classes_table()
    given = np.count_nonzero(ds.labels, axis=0)
    if table is None:
        order = np.argsort(-given, kind="stable")[:ML_TABLE_CLASSES]
        rows = "".join(
            f'<tr><td>{escape(ds.class_names[c])}</td><td class="num">{int(given[c]):,}</td></tr>'
            for c in order
        )
        return (
            '<section id="classes"><h2>Classes</h2><p class="note">No per-class issue table: '
            "it needs pred_probs. Class sizes in the given label sets, largest first:</p>"
            f'<table><tr><th>class</th><th class="num">given</th></tr>{rows}</table></section>'
        )
    shown = table.head(ML_TABLE_CLASSES)
    more = (
        f" Showing the {len(shown)} worst of {len(table):,} classes; classes.csv lists all."
        if len(table) > len(shown)
        else ""
    )
    rows = []
    for _, row in shown.iterrows():
        c = int(row["Class Index"])
        rows.append(
            f"<tr><td>{escape(ds.class_names[c])}</td>"
            f'<td class="num">{int(given[c]):,}</td>'
            f'<td class="num">{int(row["Label Issues"]):,}</td>'
            f'<td class="num">{int(row["Inverse Label Issues"]):,}</td>'
            f'<td class="num">{fmt_number(row["Label Noise"], ".2%")}</td>'
            f'<td class="num">{fmt_number(row["Inverse Label Noise"], ".2%")}</td>'
            f'<td class="num">{fmt_number(row["Label Quality Score"], ".4f")}</td></tr>'
        )
    return (
        '<section id="classes"><h2>Classes</h2>'
        '<p class="note">Per class, the samples whose annotation of the class looks wrong by '
        "confident learning on that class's yes/no problem [multi-label]: <b>wrongly given</b> "
        "(the class is in the given set but likely should not be) and <b>missing</b> (not "
        "given but likely should be), as counts and shares of all samples. Label quality score "
        f"= 1 - wrongly-given share; worst classes first.{escape(more)}</p>"
        '<table><tr><th>class</th><th class="num">given</th><th class="num">wrongly given</th>'
        '<th class="num">missing</th><th class="num">wrongly given share</th>'
        '<th class="num">missing share</th><th class="num">label quality score</th></tr>'
        f"{''.join(rows)}</table></section>"
    )


def _ml_matrices_section(r) -> str:
    from workbench.analysis.multilabel.matrices import class_order

    ds = r.dataset
    names = [str(c) for c in ds.class_names]
    parts = []
    counts = r.matrices.get("class_counts")
    if counts is None:
        parts.append(
            '<p class="note">No per-class 2×2 matrices: they need pred_probs (given vs '
            "predicted).</p>"
        )
    else:
        classes = class_order(ds.labels, ds.pred_probs, 0.5, ML_MATRIX_CLASSES)
        note = (
            f" Showing the {len(classes)} of {ds.n_classes:,} classes with the most samples off "
            "the diagonal, worst first."
            if ds.n_classes > len(classes)
            else ""
        )
        cells = []
        for c in classes:
            z = counts[c]
            cells.append(
                f'<table class="two-by-two"><caption>{escape(names[c])}</caption>'
                "<tr><th>given \\ predicted</th><th>no</th><th>yes</th></tr>"
                f'<tr><th>has</th><td class="num mismatch" title="given, not predicted: '
                f'possibly an extra label">{int(z[1, 0]):,}</td>'
                f'<td class="num">{int(z[1, 1]):,}</td></tr>'
                f'<tr><th>lacks</th><td class="num">{int(z[0, 0]):,}</td>'
                f'<td class="num mismatch" title="predicted, not given: possibly a missing '
                f'label">{int(z[0, 1]):,}</td></tr></table>'
            )
        parts.append(
            '<h3>Given vs predicted, per class</h3><p class="note">Rows: the class is in the '
            "given set (has) or not (lacks); columns: the model predicts it (probability above "
            "0.5) or not. The red cells disagree: <b>has / no</b> are possibly extra labels, "
            f"<b>lacks / yes</b> possibly missing ones.{escape(note)}</p>"
            f'<div class="figs">{"".join(cells)}</div>'
        )
    co = r.matrices.get("cooccurrence")
    if co is None or ds.n_classes == 0:
        parts.append('<p class="note">No co-occurrence matrix: too many classes.</p>')
    else:
        keep = np.arange(ds.n_classes)
        note = ""
        if ds.n_classes > MAX_MATRIX_CLASSES:
            keep = np.sort(np.argsort(-np.diag(co), kind="stable")[:MAX_MATRIX_CLASSES])
            note = (
                f" Showing the {MAX_MATRIX_CLASSES} most frequent of {ds.n_classes:,} classes "
                "(summary.json holds the full matrix up to 100 classes)."
            )
        svg = heatmap_svg(
            co[np.ix_(keep, keep)], [names[i] for i in keep], row_title="class",
            col_title="class", fmt="d", probabilities=False,
        )  # fmt: skip
        parts.append(
            "<h3>Class co-occurrence</h3><figure><figcaption><b>Samples given both classes"
            "</b>Row i, column j: samples whose given set holds both; the diagonal: samples "
            "given the class. A label swapped for a class that often comes with it is the "
            f"common real-world error.{escape(note)}</figcaption>{svg}</figure>"
        )
    return (
        '<section id="matrices"><h2>Per-class matrices</h2>'
        f"<style>table.two-by-two caption {{ font-weight: 600; text-align: left; }}</style>"
        f"{''.join(parts)}</section>"
    )


def _ml_detectors_section(r) -> str:
    ds = r.dataset
    metrics = r.metrics_table() if r.results else None
    if metrics is None or metrics.empty:
        table = _flag_counts_table(
            r, "flags annotations", lambda res: res.details.get("per_class_flags") is not None
        )
        return (
            '<section id="detectors"><h2>Detector comparison</h2>'
            '<p class="note">Precision and recall need the true label sets; shown: how many '
            "samples each flags and whether it flags single annotations.</p>"
            f"{table}</section>"
        )
    cols = [c for c in metrics.columns if c not in ("detector", "level")]
    head = (
        "<tr><th>detector</th><th>level</th>"
        + "".join(f'<th class="num">{escape(c)}</th>' for c in cols)
        + "</tr>"
    )
    ordered = metrics.sort_values(["level", "ap"], ascending=[False, False], kind="stable")
    body = "".join(
        f"<tr><td>{escape(row['detector'])}</td><td>{escape(row['level'])}</td>"
        + "".join(
            f'<td class="num">{fmt_number(row[c], "d" if c.startswith("n") else ".3f")}</td>'
            for c in cols
        )
        + "</tr>"
        for _, row in ordered.iterrows()
    )
    curves = r.pr_curves("sample")
    svg = ""
    if curves:
        sample = metrics[metrics["level"] == "sample"]
        ap = dict(zip(sample["detector"], sample["ap"], strict=True))
        known = (ds.true_labels >= 0).all(axis=1)
        base = float(ds.is_noisy[known].mean())
        svg = "<h3>Precision-recall curves (samples)</h3>" + pr_curves_svg(
            curves, baseline=base, ap=ap
        )
    return (
        '<section id="detectors"><h2>Detector comparison</h2>'
        '<p class="note">Against the known true label sets: a <b>sample</b> is wrong when its '
        "given set differs from its true set; an <b>annotation</b> (sample, class) when the "
        "class's presence differs. ap = average precision, auroc = area under the ROC curve; "
        "precision, recall and F1 of each detector's flags.</p>"
        f"<table>{head}{body}</table>{svg}</section>"
    )


def _ml_samples_section(r, top: int) -> str:
    ds = r.dataset
    if r.primary is None:
        return (
            '<section id="samples"><h2>Flagged samples</h2><p class="note">No detector ran, so '
            "no sample is flagged.</p></section>"
        )
    flagged = r.flagged_table()
    n_flag = len(flagged)
    if n_flag == 0:
        return (
            '<section id="samples"><h2>Flagged samples</h2>'
            f'<p class="note">{escape(r.primary)} flags no sample.</p></section>'
        )
    shown = flagged.head(top)
    truth = ds.true_labels is not None and ds.has_truth
    named = ds.ids is not None
    true_sets = None
    if truth:
        from workbench.core.label_sets import label_set_strings

        known = (ds.true_labels >= 0).all(axis=1)
        true_sets = label_set_strings(ds.true_labels > 0, ds.class_names)
    head = (
        "<tr><th>rank</th>"
        + ("<th>id</th>" if named else "")
        + "<th>index</th><th>preview</th><th>given set</th><th>suggested set</th>"
        "<th>remove</th><th>add</th>"
        + ("<th>true set</th>" if truth else "")
        + f'<th class="num">{escape(r.primary)} score</th></tr>'
    )
    rows = []
    for rank, (_, row) in enumerate(shown.iterrows(), start=1):
        i = int(row["index"])
        preview = preview_html(ds.previews[i], size=44) if ds.previews is not None else "—"
        cells = [
            f'<td class="num">{rank}</td>',
            *([f"<td>{escape(str(row['id']))}</td>"] if named else []),
            f'<td class="num">{i}</td>',
            f'<td class="preview">{preview}</td>',
            f"<td>{escape(row['label'] or '∅')}</td>",
            f"<td>{escape(row['suggested'] or '∅')}</td>",
            f'<td class="mismatch">{escape(row["remove"])}</td>',
            f'<td class="mismatch">{escape(row["add"])}</td>',
        ]
        if truth:
            text = true_sets[i] if known[i] else "unknown"
            cls = ' class="mismatch"' if known[i] and bool(ds.is_noisy[i]) else ""
            cells.append(f"<td{cls}>{escape(text or '∅')}</td>")
        cells.append(f'<td class="num">{fmt_number(row["score"], ".4g")}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f" (of {n_flag:,} flagged; flagged.csv lists them all)" if n_flag > len(shown) else ""
    legend = " A true set in red differs from the given set." if truth else ""
    return (
        '<section id="samples"><h2>Flagged samples</h2>'
        f'<p class="note">The {len(shown):,} samples flagged by {escape(r.primary)} with the '
        f"highest scores{escape(more)}, with the given set, {escape(r.primary)}'s suggested set, "
        f"and the classes to remove from / add to the given set to get it (∅: empty set).{legend}"
        "</p>"
        f'<div class="scroll"><table class="samples">{head}{"".join(rows)}</table></div></section>'
    )


def _ml_references_section(r) -> str:
    from workbench.analysis.detectors.multilabel import MULTILABEL_REFERENCE

    used: dict[str, list[str]] = {MULTILABEL_REFERENCE: ["per-class issue table"]}
    for name in r.results:
        for ref in detector_attr(name, "reference").split(";"):
            if ref.strip():
                used.setdefault(ref.strip(), []).append(name)
    items = "".join(
        f'<li>{escape(text)} <span class="used">({escape(", ".join(who))})</span></li>'
        for text, who in used.items()
    )
    return (
        '<section id="references"><h2>References</h2>'
        '<p class="note">The methods behind this report, and where each is used.</p>'
        f'<ol class="refs">{items}</ol></section>'
    )


# --- small helpers -------------------------------------------------------------------------------
def _template(name: str) -> str:
    return (
        resources.files("workbench.pipeline")
        .joinpath("templates", name)
        .read_text(encoding="utf-8")
    )


def _b64(a, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(np.asarray(a), dtype=dtype).tobytes()).decode()


def _percentile_u8(scores: np.ndarray) -> np.ndarray:
    """Rank of each score scaled to 0..255 (ties share the average rank)."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) < 2:
        return np.zeros(len(s), dtype=np.uint8)
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s), dtype=np.float64)
    ranks[order] = np.arange(len(s))
    # average ranks over ties so equal scores get equal colours
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = sums[inv] / counts[inv]
    return np.round(255 * ranks / (len(s) - 1)).astype(np.uint8)
