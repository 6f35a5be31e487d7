"""Compute backends: torch code that produces the signals detectors and views need.

Importing this package registers the ``recov`` detector (it needs features and trains probes).
"""

from .device import autocast_dtype, float64_device, get_device, resolve_device, set_device
from .probe import MODELS, ProbeResult, cross_val_probs, stratified_folds
from .projection import METHODS, pca, project, warm_umap
from .recorder import TrajectoryRecorder
from .recov import ReCoV, RecovResult, recov_scores
from .retrain import RetrainResult, cleaning_sweep, retrain_after_cleaning

__all__ = [
    "METHODS",
    "MODELS",
    "ProbeResult",
    "ReCoV",
    "RecovResult",
    "RetrainResult",
    "TrajectoryRecorder",
    "autocast_dtype",
    "cleaning_sweep",
    "cross_val_probs",
    "float64_device",
    "get_device",
    "pca",
    "project",
    "recov_scores",
    "resolve_device",
    "retrain_after_cleaning",
    "set_device",
    "stratified_folds",
    "warm_umap",
]
