"""Compute backends: torch code that produces the signals detectors and views need."""

from .device import autocast_dtype, get_device, resolve_device, set_device
from .probe import ProbeResult, cross_val_probs, stratified_folds
from .recorder import TrajectoryRecorder

__all__ = [
    "ProbeResult",
    "TrajectoryRecorder",
    "autocast_dtype",
    "cross_val_probs",
    "get_device",
    "resolve_device",
    "set_device",
    "stratified_folds",
]
