"""SVG charts of the static report: labelled heatmaps and precision-recall curves.

Pure string building (numpy for the numbers); the output is inline SVG that any browser draws
without scripts or network.
"""

from __future__ import annotations

import html

import numpy as np

__all__ = ["heatmap_svg", "pr_curves_svg", "escape", "fmt_number", "shorten"]


# --- charts --------------------------------------------------------------------------------------
def heatmap_svg(
    m,
    labels,
    *,
    row_title: str,
    col_title: str,
    fmt: str = ".2f",
    probabilities: bool = True,
    diagonal: bool = True,
    max_label: int = 14,
) -> str:
    """A labelled SVG heatmap of a square matrix (rows ``row_title``, columns ``col_title``).

    With ``diagonal=True`` diagonal cells are blue and off-diagonal cells red, each on its own
    scale (off-diagonal scaled to the largest off-diagonal value). NaN cells are grey.
    """
    m = np.asarray(m, dtype=np.float64)
    k = m.shape[0]
    cell = int(np.clip(320 // max(k, 1), 10, 32))
    labels = [shorten(str(s), max_label) for s in labels]
    lab_w = 8 + 7 * max(len(s) for s in labels)
    left, top = 26 + lab_w, 34 + int(0.88 * lab_w)  # column labels are rotated by 60°
    width, height = left + k * cell + 10 + lab_w // 2, top + k * cell + 10
    finite = np.isfinite(m)
    off = ~np.eye(k, dtype=bool) if diagonal else np.ones((k, k), dtype=bool)
    off_max = float(m[off & finite].max()) if (off & finite).any() else 0.0
    diag_max = 1.0 if probabilities else (float(np.nanmax(np.diag(m))) if k else 1.0)
    show_text = k <= 15
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(row_title)} by {escape(col_title)}">'
    ]
    # Axis titles: columns on top, rows on the left (rotated).
    parts.append(
        f'<text x="{left + k * cell / 2:.1f}" y="14" text-anchor="middle" font-size="13" '
        f'font-weight="600">{escape(col_title)} (j) →</text>'
    )
    parts.append(
        f'<text transform="translate(14,{top + k * cell / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'font-size="13" font-weight="600">{escape(row_title)} (i) →</text>'
    )
    for j, s in enumerate(labels):
        cx = left + j * cell + cell / 2
        parts.append(
            f'<text transform="translate({cx + 4:.1f},{top - 6}) rotate(-60)" font-size="11">'
            f"{escape(s)}</text>"
        )
        cy = top + j * cell + cell / 2
        parts.append(
            f'<text x="{left - 6}" y="{cy + 4:.1f}" text-anchor="end" font-size="11">{escape(s)}</text>'
        )
    for i in range(k):
        for j in range(k):
            v = m[i, j]
            x, y = left + j * cell, top + i * cell
            if not np.isfinite(v):
                fill, t = "#e0e0e0", 0.0
            elif diagonal and i == j:
                t = v / diag_max if diag_max > 0 else 0.0
                fill = _mix((255, 255, 255), (33, 102, 172), t)
            else:
                t = v / off_max if off_max > 0 else 0.0
                fill = _mix((255, 255, 255), (178, 24, 43), t)
            value = fmt_number(v, fmt)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" '
                f'stroke="#ffffff" stroke-width="0.5"><title>{escape(row_title)} {escape(labels[i])}, '
                f"{escape(col_title)} {escape(labels[j])}: {value}</title></rect>"
            )
            if show_text and np.isfinite(v) and v != 0:
                colour = "#ffffff" if t > 0.6 else "#1d2430"
                parts.append(
                    f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" '
                    f'font-size="{10 if cell < 36 else 11}" fill="{colour}" '
                    f'pointer-events="none">{_compact(v, fmt)}</text>'
                )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{k * cell}" height="{k * cell}" fill="none" '
        'stroke="#9aa3ad"/></svg>'
    )
    return "".join(parts)


_LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                 "#17becf")  # fmt: skip
_MUTED = "#b8bec6"


def pr_curves_svg(
    curves: dict,
    *,
    baseline: float | None = None,
    ap: dict | None = None,
    highlight: int = 6,
    max_points: int = 300,
) -> str:
    """SVG precision-recall curves: recall on x, precision on y, one line per detector.

    Parameters
    ----------
    curves : dict of name -> (precision, recall)
    baseline : float, optional
        Precision of a random ranking (the share of label errors), drawn dashed.
    ap : dict of name -> float, optional
        Average precision per detector: the legend is sorted by it and shows it.
    highlight : int, default=6
        The first ``highlight`` detectors (by ``ap`` when given) get colours, the others are
        drawn thin and grey so that many curves stay readable.
    """
    names = list(curves)
    if ap is not None:
        names.sort(key=lambda n: -ap.get(n, -np.inf) if np.isfinite(ap.get(n, np.nan)) else np.inf)
    legend_rows = len(names)
    w, left, top, pw, ph = 860, 56, 14, 470, 320
    h = max(top + ph + 44, top + 12 + 17 * legend_rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'role="img" aria-label="precision-recall curves">'
    ]
    for t in np.linspace(0, 1, 5):
        x, y = left + t * pw, top + (1 - t) * ph
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ec"/>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="#e3e7ec"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{t:.2f}</text>'
            f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11">{t:.2f}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2}" y="{top + ph + 34}" text-anchor="middle" font-size="12">'
        "recall: share of the true label errors that are flagged</text>"
        f'<text transform="translate(14,{top + ph / 2}) rotate(-90)" text-anchor="middle" '
        'font-size="12">precision: share of flagged that are errors</text>'
    )
    if baseline is not None:
        y = top + (1 - baseline) * ph
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#555" '
            f'stroke-dasharray="4 3"><title>random ranking: precision = {baseline:.3f}</title></line>'
        )
    lines, legend = [], []
    for n, name in enumerate(names):
        precision, recall = curves[name]
        p, rc = np.asarray(precision, float), np.asarray(recall, float)
        ok = np.isfinite(p) & np.isfinite(rc)
        p, rc = p[ok], rc[ok]
        if len(p) > max_points:
            keep = np.unique(np.linspace(0, len(p) - 1, max_points).round().astype(int))
            p, rc = p[keep], rc[keep]
        bright = n < highlight
        colour = _LINE_COLOURS[n % len(_LINE_COLOURS)] if bright else _MUTED
        pts = " ".join(
            f"{left + a * pw:.1f},{top + (1 - b) * ph:.1f}" for a, b in zip(rc, p, strict=True)
        )
        label = name if ap is None else f"{name} (AP {fmt_number(ap.get(name), '.3f')})"
        lines.append(
            (
                bright,
                f'<polyline points="{pts}" fill="none" stroke="{colour}" '
                f'stroke-width="{2 if bright else 1}"><title>{escape(label)}</title></polyline>',
            )
        )
        ly = top + 6 + n * 17
        legend.append(
            f'<line x1="{left + pw + 20}" x2="{left + pw + 40}" y1="{ly}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="3"/><text x="{left + pw + 46}" y="{ly + 4}" '
            f'font-size="11.5" fill="{"#1d2430" if bright else "#6b7480"}">'
            f"{escape(shorten(label, 40))}</text>"
        )
    parts.extend(svg for bright, svg in lines if not bright)  # grey ones underneath
    parts.extend(svg for bright, svg in lines if bright)
    parts.extend(legend)
    parts.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#9aa3ad"/></svg>'
    )
    return "".join(parts)


# --- helpers ---------------------------------------------------------------------------------
def escape(x) -> str:
    return html.escape(str(x), quote=True)


def shorten(s: str, n: int = 14) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _mix(a, b, t: float) -> str:
    t = float(np.clip(t, 0.0, 1.0))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def fmt_number(v, fmt: str | None = None) -> str:
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if fmt == "d" or (fmt is None and isinstance(v, (int, np.integer))):
        return f"{int(round(float(v))):,}"
    if fmt:
        return format(float(v), fmt)
    return f"{float(v):.3g}" if abs(float(v)) < 1000 else f"{float(v):,.0f}"


def _compact(v: float, fmt: str) -> str:
    if fmt == "d":
        v = int(round(v))
        return f"{v / 1000:.1f}k" if v >= 10_000 else str(v)
    s = format(v, fmt)
    return s[1:] if s.startswith("0.") else s  # ".05" fits a small cell
