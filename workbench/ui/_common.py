"""Helpers shared by every workbench view: session wrapping, the view protocol, previews.

Every view takes ``(session_or_dataset, **options)``: a Dataset is wrapped into a new Session
with :func:`as_session`. A view exposes ``.widget`` (built lazily), displays itself through
``_repr_mimebundle_`` delegating to that widget and ``close()`` unsubscribes from the session.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from pathlib import Path

import numpy as np

from ..dataset import Dataset
from ..session import Session

__all__ = [
    "as_session",
    "View",
    "asset_path",
    "message_widget",
    "png_data_url",
    "preview_html",
    "preview_of",
]


def as_session(obj, **session_options) -> Session:
    """Return ``obj`` when it is a Session, else wrap a Dataset into a new Session.

    Parameters
    ----------
    obj : Session or Dataset
    **session_options
        Passed to :class:`workbench.session.Session` when a new one is made (``results``,
        ``decisions_path``). Giving them with an existing Session is an error.

    Raises
    ------
    TypeError
        If ``obj`` is neither a Session nor a Dataset, or options come with a Session.
    """
    if isinstance(obj, Session):
        if session_options:
            raise TypeError(
                f"Options {sorted(session_options)} only apply when a Dataset is given; this "
                "Session already exists, so they would be ignored."
            )
        return obj
    if isinstance(obj, Dataset):
        return Session(obj, **session_options)
    raise TypeError(
        "Expected a workbench.Session or workbench.Dataset, found "
        f"{type(obj).__name__}. Build one with workbench.Dataset(labels, ...)."
    )


# --- the view protocol ---------------------------------------------------------------------------
class View:
    """Base of every workbench view: lazy ``.widget``, notebook display, ``close()``.

    Subclasses implement ``_build() -> ipywidgets.Widget`` and subscribe to the session with
    ``self._subscribe(event, callback)`` so that ``close()`` can undo it.
    """

    def __init__(self, session_or_dataset, **session_options):
        self.session = as_session(session_or_dataset, **session_options)
        self._widget = None
        self._unsubscribers: list = []

    @property
    def widget(self):
        """The ipywidgets widget showing this view (built on first access)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _subscribe(self, event: str, callback) -> None:
        self._unsubscribers.append(self.session.on(event, callback))

    def close(self) -> None:
        """Stop listening to the session and close the widget (idempotent)."""
        while self._unsubscribers:
            unsubscribe = self._unsubscribers.pop()
            try:
                unsubscribe()
            except ValueError:  # already removed
                pass
        if self._widget is not None:
            self._widget.close()
            self._widget = None

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        ds = self.session.dataset
        return f"{type(self).__name__}(N={ds.n_samples}, K={ds.n_classes})"


def message_widget(sentence: str):
    """An ipywidgets HTML box holding one explanatory sentence (e.g. why a view is empty)."""
    import ipywidgets as w

    return w.HTML(
        f'<div class="wb-message" style="padding:8px;color:#555">{html.escape(sentence)}</div>'
    )


# --- assets --------------------------------------------------------------------------------------
def asset_path(name: str) -> Path:
    """Path of a browser-side file (``queue.js``, ``queue.css``) of the widget library.

    Looks in the checkout's top-level ``widgets/`` folder, then in ``workbench/static/`` (where
    an installed wheel keeps them).
    """
    here = Path(__file__).resolve().parent
    for folder in (here.parents[1] / "widgets", here.parent / "static"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"Widget asset {name!r} not found in {here.parents[1] / 'widgets'} or "
        f"{here.parent / 'static'}; reinstall the package."
    )


# --- previews ------------------------------------------------------------------------------------
def _png_bytes(img: np.ndarray) -> bytes:
    """Encode a uint8 (H, W) grey or (H, W, 3|4) colour array as PNG."""
    h, w = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = img.reshape(h, w * channels)
    raw = b"".join(b"\x00" + rows[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def png_data_url(image, *, scale: int = 1, invert: bool = False) -> str:
    """A ``data:image/png;base64,...`` URL of an image array.

    Parameters
    ----------
    image : array-like of shape (H, W), (H, W, 3) or (H, W, 4), or (H*W,) for a square image
        Any numeric range; it is scaled to 0..255 by its own min and max (uint8 kept as is).
    scale : int, default=1
        Nearest-neighbour upscaling factor (an 8×8 digit at scale 8 becomes 64×64).
    invert : bool, default=False
        Dark ink on a light background for grey images.
    """
    img = np.asarray(image)
    if img.ndim == 1:
        side = int(round(np.sqrt(img.size)))
        if side * side != img.size:
            raise ValueError(
                f"image of shape {img.shape} is 1-D but not a square number of pixels."
            )
        img = img.reshape(side, side)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        raise ValueError(f"image must have shape (H, W) or (H, W, 1|3|4), found {img.shape}.")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if not isinstance(scale, (int, np.integer)) or not 1 <= scale <= 64:
        raise ValueError(f"scale must be an integer 1..64, found {scale!r}.")
    if img.dtype != np.uint8:
        f = np.nan_to_num(img.astype(np.float64))
        lo, hi = float(f.min()), float(f.max())
        f = (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)
        img = np.round(f * 255).astype(np.uint8)
    if invert and img.ndim == 2:
        img = 255 - img
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    return (
        "data:image/png;base64," + base64.b64encode(_png_bytes(np.ascontiguousarray(img))).decode()
    )


def preview_html(preview, *, size: int = 64, max_chars: int = 280) -> str:
    """HTML for one sample's preview: an ``<img>`` for arrays, an escaped snippet for text."""
    if preview is None:
        return '<span class="wb-nopreview">no preview</span>'
    if isinstance(preview, (str, bytes)):
        text = preview.decode(errors="replace") if isinstance(preview, bytes) else preview
        snippet = text if len(text) <= max_chars else text[: max_chars - 1] + "\u2026"
        return f'<div class="wb-text">{html.escape(snippet)}</div>'
    arr = np.asarray(preview)
    if arr.ndim == 0:
        return f'<div class="wb-text">{html.escape(str(arr))}</div>'
    side = arr.shape[0] if arr.ndim >= 2 else int(round(np.sqrt(arr.size)))
    scale = max(1, min(64, size // max(side, 1)))
    url = png_data_url(arr, scale=scale, invert=arr.ndim != 3)
    return f'<img class="wb-img" src="{url}" width="{size}" style="image-rendering:pixelated">'


def preview_of(dataset: Dataset, index: int) -> str | None:
    """A preview as a data URL (images) or plain text (texts) for ``index``, None if absent."""
    if dataset.previews is None:
        return None
    p = dataset.previews[int(index)]
    if p is None:
        return None
    if isinstance(p, (str, bytes)):
        return p.decode(errors="replace") if isinstance(p, bytes) else p
    arr = np.asarray(p)
    if arr.ndim == 0:
        return str(arr)
    side = arr.shape[0] if arr.ndim >= 2 else int(round(np.sqrt(arr.size)))
    return png_data_url(arr, scale=max(1, min(64, 64 // max(side, 1))), invert=arr.ndim != 3)
