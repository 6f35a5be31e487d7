"""Label-error detectors behind one interface and a registry.

Every detector returns a per-sample noise score, higher = more likely mislabeled.
"""

from . import annotators, features, pred_probs, trajectories  # noqa: F401  (register detectors)
from .base import Detector, DetectorResult, MissingSignalError
from .registry import available_detectors, get_detector, list_detectors, register, run_detectors

__all__ = [
    "Detector",
    "DetectorResult",
    "MissingSignalError",
    "available_detectors",
    "get_detector",
    "list_detectors",
    "register",
    "run_detectors",
]
