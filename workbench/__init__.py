"""Label-noise workbench: find, understand and fix wrong labels in classification datasets.

Load labels and whatever signals exist into a :class:`Dataset`, compute the missing ones
(``workbench.compute``), score every sample with several detectors (noise scores: higher = more
likely mislabeled), look at it in linked JupyterLab views (``workbench.show``), decide and export.

Names are imported on first use, so ``import workbench`` stays light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Dataset": "workbench.dataset",
    "Session": "workbench.session",
    "load_demo": "workbench.datasets",
    "load_label_errors": "workbench.datasets",
    "make_gaussian_mixture": "workbench.datasets",
    "find_label_issues": "workbench.detectors.pred_probs",
    "noise_scores": "workbench.detectors.pred_probs",
    "ensemble_noise_scores": "workbench.detectors.pred_probs",
    "run_detectors": "workbench.detectors",
    "available_detectors": "workbench.detectors",
    "get_detector": "workbench.detectors",
    "list_detectors": "workbench.detectors",
    "evaluate": "workbench.metrics",
    "DecisionLog": "workbench.decisions",
    "MergeReport": "workbench.decisions",
    "audit": "workbench.pipeline",
    "AuditResult": "workbench.pipeline",
    "write_report": "workbench.report",
    "cross_val_probs": "workbench.compute",
    "project": "workbench.compute",
    "knn_graph": "workbench.compute.knn",
    "TrajectoryRecorder": "workbench.compute",
    "set_device": "workbench.compute",
    "Workbench": "workbench.ui",
    "show": "workbench.ui",
    "open_workbench": "workbench.ui",
}
_MODULES = ("noise", "matrices", "metrics", "detectors", "compute", "ui")

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"workbench.{name}")
    else:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
