"""Device choice for every torch computation: cuda > mps > cpu, chosen once, overridable.

Override with ``set_device("cpu")`` or the ``WORKBENCH_DEVICE`` environment variable; every
function that computes on torch also takes ``device=`` for a single call.
"""

from __future__ import annotations

import os

import torch

__all__ = ["resolve_device", "set_device", "get_device", "autocast_dtype", "float64_device"]

_default: torch.device | None = None


def _best_available() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return a usable torch.device.

    Parameters
    ----------
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``; None means the session default
        (``set_device``, then ``$WORKBENCH_DEVICE``, then cuda > mps > cpu).

    Raises
    ------
    ValueError
        If the device string is malformed or the device does not exist on this machine.
    """
    if device is None:
        if _default is not None:
            return _default
        device = os.environ.get("WORKBENCH_DEVICE") or _best_available()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a valid torch device ({err}).") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} requested but CUDA is not available here.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} does not exist: {torch.cuda.device_count()} CUDA device(s)."
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r} requested but MPS is not available here.")
    elif dev.type != "cpu":
        raise ValueError(f"device={device!r} is not supported; use 'cpu', 'cuda[:i]' or 'mps'.")
    return dev


def set_device(device: str | torch.device | None) -> torch.device | None:
    """Set the session-wide default device (None restores automatic choice)."""
    global _default
    _default = None if device is None else resolve_device(device)
    return _default


def get_device() -> torch.device:
    """The device computations use when none is given."""
    return resolve_device(None)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype that is safe on ``device`` (None: stay in float32)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def float64_device(device: torch.device) -> torch.device:
    """Where the float64 work of a computation on ``device`` runs: the device itself, or the
    CPU for MPS, which has no float64 (sums of many samples, normal equations, eigh)."""
    return torch.device("cpu") if device.type == "mps" else device
