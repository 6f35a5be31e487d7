"""Label-noise workbench: find, understand and fix wrong labels in classification datasets.

Load labels and whatever signals exist into a :class:`Dataset`, compute the missing ones
(``workbench.compute``), score every sample with several detectors (noise scores: higher = more
likely mislabeled), look at it in linked JupyterLab views (``workbench.show``), decide and export.

Names are imported on first use, so ``import workbench`` stays light.
"""

from __future__ import annotations

import importlib

from workbench.core.version import __version__ as __version__

# public name -> module that defines it
_EXPORTS = {
    "Dataset": "workbench.core.dataset",
    "EmptyClassWarning": "workbench.core.dataset",
    "Session": "workbench.session",
    "load_demo": "workbench.noise.datasets",
    "load_label_errors": "workbench.noise.datasets",
    "make_gaussian_mixture": "workbench.noise.datasets",
    "find_label_issues": "workbench.analysis.detectors.pred_probs",
    "noise_scores": "workbench.analysis.detectors.pred_probs",
    "ensemble_noise_scores": "workbench.analysis.detectors.pred_probs",
    "run_detectors": "workbench.analysis.detectors",
    "available_detectors": "workbench.analysis.detectors",
    "get_detector": "workbench.analysis.detectors",
    "list_detectors": "workbench.analysis.detectors",
    "evaluate": "workbench.analysis.metrics",
    "DecisionLog": "workbench.decisions",
    "MergeReport": "workbench.decisions",
    "audit": "workbench.pipeline",
    "AuditResult": "workbench.pipeline.result",
    "write_report": "workbench.pipeline.report",
    "cross_val_probs": "workbench.compute",
    "project": "workbench.compute",
    "knn_graph": "workbench.compute.knn",
    "TrajectoryRecorder": "workbench.compute",
    "set_device": "workbench.compute",
    "Workbench": "workbench.ui",
    "show": "workbench.ui",
    "open_workbench": "workbench.ui",
}
# short names for the modules a notebook reaches for -> where they live
_MODULES = {
    "noise": "workbench.noise",
    "matrices": "workbench.analysis.matrices",
    "metrics": "workbench.analysis.metrics",
    "detectors": "workbench.analysis.detectors",
    "compute": "workbench.compute",
    "decisions": "workbench.decisions",
    "ui": "workbench.ui",
}

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
