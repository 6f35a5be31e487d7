"""Compute backends: torch code that produces the signals detectors and views need."""

from .device import get_device, resolve_device, set_device

__all__ = ["get_device", "resolve_device", "set_device"]
