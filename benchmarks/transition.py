"""Benchmark: transition-matrix estimates and the training-free detectors on the digits demo.

Run ``.venv/bin/python benchmarks/transition.py [--seeds 0 1 2]``. For every noise setting
(symmetric, pair and instance-dependent noise at 20 % and 40 %, the simulators of
``workbench.noise.datasets.load_demo``, seeded), on the 1,797 digits:

- ``mae_confident_joint``: mean absolute error of the confident-joint estimate
  (:func:`workbench.analysis.matrices.estimate_transition_matrix`, from 5-fold out-of-fold
  ``pred_probs`` of the workbench's linear probe) against the **realised** transition matrix
  (true label × given label of this draw, rows normalised);
- ``mae_hoc``: the same for HOC (:func:`workbench.analysis.hoc.estimate_transition_hoc`, from the
  labels of every sample and its two nearest neighbours in the pixel space; no model);
- ``ap_*``: average precision of ``simifeat``, ``relation_graph``, ``knn_disagreement`` and
  ``self_confidence`` against the known flips, on the same data.

Figures are means over the seeds (``--seeds``, default 0 1 2), with the per-seed values. The
last line printed is one JSON object: ``{setting: {figure: mean, ..., "per_seed": {...}}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis.derived import analysis_of  # noqa: E402
from workbench.analysis.detectors import get_detector  # noqa: E402
from workbench.analysis.hoc import estimate_transition_hoc  # noqa: E402
from workbench.analysis.matrices import (  # noqa: E402
    estimate_transition_matrix,
    transition_estimation_error,
    true_transition_matrix,
)
from workbench.analysis.metrics import average_precision  # noqa: E402
from workbench.compute import cross_val_probs  # noqa: E402
from workbench.core.dataset import Dataset  # noqa: E402
from workbench.noise.datasets import load_demo  # noqa: E402

SETTINGS = [(kind, rate) for kind in ("symmetric", "pair", "instance") for rate in (0.2, 0.4)]
DETECTORS = ("simifeat", "relation_graph", "knn_disagreement", "self_confidence")


def one_run(kind: str, rate: float, seed: int) -> dict:
    demo = load_demo(kind, rate=rate, seed=seed)
    probe = cross_val_probs(demo.features, demo.labels, seed=seed, record=False, progress=False)
    ds = Dataset(
        demo.labels, features=demo.features, pred_probs=probe.pred_probs,
        true_labels=demo.true_labels, class_names=demo.class_names,
    )  # fmt: skip
    k = ds.n_classes
    realised = true_transition_matrix(ds.true_labels, ds.labels, k)
    cj = estimate_transition_matrix(ds.labels, ds.pred_probs)
    graph = analysis_of(ds).knn_graph(10, "cosine", progress=False)
    hoc = estimate_transition_hoc(ds.labels, graph, n_classes=k)
    out = {
        "realised_noise_rate": float(ds.is_noisy.mean()),
        "mae_confident_joint": transition_estimation_error(cj, realised)["mae"],
        "mae_hoc": transition_estimation_error(hoc.transition, realised)["mae"],
    }
    for name in DETECTORS:
        t0 = time.perf_counter()
        res = get_detector(name, **({"seed": seed} if name == "simifeat" else {})).score(
            ds, progress=False
        )
        out[f"ap_{name}"] = float(average_precision(res.scores, ds.is_noisy))
        out[f"seconds_{name}"] = time.perf_counter() - t0
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    report = {}
    for kind, rate in SETTINGS:
        runs = [one_run(kind, rate, s) for s in args.seeds]
        key = f"{kind}_{int(rate * 100)}"
        report[key] = {f: float(np.mean([r[f] for r in runs])) for f in runs[0]}
        report[key]["per_seed"] = {f: [r[f] for r in runs] for f in runs[0]}
        row = report[key]
        print(
            f"{key:14s} noise {row['realised_noise_rate']:.3f}  MAE cj {row['mae_confident_joint']:.4f}"
            f"  hoc {row['mae_hoc']:.4f}  AP "
            + "  ".join(f"{n} {row[f'ap_{n}']:.3f}" for n in DETECTORS),
            flush=True,
        )
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
