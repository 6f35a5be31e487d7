"""Benchmark: our pred_probs detectors against cleanlab on real, crowd-verified label errors.

Run ``.venv/bin/python benchmarks/real_label_errors.py [DIR]``. DIR holds label-error sets
(``NAME_test_set_pyx.npy``, ``NAME_test_set_original_labels.npy``, ``NAME_mturk.json``); by
default the copies shipped in ``workbench/data/label_errors`` (else ``../shared/data/label-errors``).

For every set, every registered detector that needs only ``pred_probs`` scores the samples; we
count the confirmed errors (fewer than 3 of 5 crowd workers chose the given label) among its k
highest scores, k = the number of confirmed errors. Only candidates were reviewed, so hits among
the top k is the fair figure, not recall. cleanlab's figures, same data: its label-quality
rankings (``self_confidence``, ``normalized_margin``, ``confidence_weighted_entropy``; lowest
quality first) and ``find_label_issues`` with default settings (its flagged samples ranked by
normalized margin); ``cleanlab_best`` is the best of the four.

The last line printed is one JSON object mapping each set to its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis.detectors import available_detectors, get_detector  # noqa: E402
from workbench.analysis.detectors.registry import _REGISTRY  # noqa: E402
from workbench.noise.datasets import load_label_errors_dir  # noqa: E402

CLEANLAB_RANKINGS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


def default_dir() -> str:
    shipped = ROOT / "workbench" / "data" / "label_errors"
    if shipped.is_dir():
        return str(shipped)
    return str(ROOT.parent / "shared" / "data" / "label-errors")


def set_names(folder: str) -> list[str]:
    suffix = "_test_set_pyx.npy"
    return sorted(f[: -len(suffix)] for f in os.listdir(folder) if f.endswith(suffix))


def pred_probs_detectors(dataset) -> list[str]:
    """Registered label-error detectors (``kind == "label_error"``: no ambiguity score) that need
    nothing but pred_probs (or several models' pred_probs)."""
    can_run = available_detectors(dataset)
    return [
        name
        for name, cls in sorted(_REGISTRY.items())
        if cls.requires and all(r.startswith("pred_probs") for r in cls.requires)
        and cls.kind == "label_error" and can_run[name] is None
    ]  # fmt: skip


def cleanlab_hits(labels, pred_probs, confirmed, k) -> dict[str, int]:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    out = {}
    for method in CLEANLAB_RANKINGS:
        quality = get_label_quality_scores(labels, pred_probs, method=method)
        out[f"cleanlab_{method}"] = int(confirmed[np.argsort(quality, kind="stable")[:k]].sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranked = find_label_issues(labels, pred_probs, return_indices_ranked_by="normalized_margin")
    out["cleanlab_find_label_issues"] = int(confirmed[ranked[:k]].sum())
    out["cleanlab_best"] = max(out.values())
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", default=default_dir())
    args = parser.parse_args(argv)

    report, rows = {}, {}
    for name in set_names(args.directory):
        data = load_label_errors_dir(args.directory, name)
        ds, confirmed = data.dataset, data.is_confirmed
        k = int(confirmed.sum())
        figures: dict[str, int] = {"k": k}
        for det in pred_probs_detectors(ds):
            result = get_detector(det).score(ds)
            figures[det] = int(confirmed[result.top_k(k)].sum())
        figures.update(cleanlab_hits(ds.labels, ds.pred_probs, confirmed, k))
        report[name] = figures
        for key, value in figures.items():
            rows.setdefault(key, {})[name] = value

    names = list(report)
    print(f"confirmed label errors among the top k (k = number confirmed); dir {args.directory}")
    print(f"{'method':38s}" + "".join(f"{n:>12s}" for n in names))
    for key, per_set in rows.items():
        if key == "k":
            continue
        cells = "".join(
            f"{per_set[n]:>8d}/{report[n]['k']:<3d}" if n in per_set else f"{'-':>12s}"
            for n in names
        )
        best = "  (ours beats cleanlab_best)" if not key.startswith("cleanlab") and all(
            per_set.get(n, -1) > report[n]["cleanlab_best"] for n in names
        ) else ""  # fmt: skip
        print(f"{key:38s}{cells}{best}")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
