"""Sample previews as HTML: images encoded to PNG data URLs (pure numpy + zlib), text escaped.

Engine code (the static report) and the UI both use these helpers, so they live outside
``workbench.ui`` and import nothing but numpy and the standard library.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib

import numpy as np

__all__ = ["encode_png", "png_data_url", "preview_html", "to_uint8_image"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)


def to_uint8_image(image, *, invert: bool = False) -> np.ndarray:
    """Return ``image`` as a uint8 array of shape (H, W) or (H, W, 3|4).

    Parameters
    ----------
    image : array-like of shape (H, W), (H, W, 1|3|4), or (H*W,) for a square grey image
        uint8 is kept as is; any other numeric range is stretched to 0..255 by its own min and
        max (NaN becomes the minimum).
    invert : bool, default=False
        Dark ink on a light background (grey images only).

    Raises
    ------
    ValueError
        If the shape is not an image shape or a 1-D array is not a square number of pixels.
    TypeError
        If the values are not numeric.
    """
    img = np.asarray(image)
    if img.dtype.kind not in "biuf":
        raise TypeError(f"image must be numeric, found dtype {img.dtype}.")
    if img.ndim == 1:
        side = int(round(np.sqrt(img.size)))
        if side * side != img.size or side == 0:
            raise ValueError(
                f"image of shape {img.shape} is 1-D but not a square number of pixels."
            )
        img = img.reshape(side, side)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"image must have shape (H, W) or (H, W, 1|3|4), found {img.shape}.")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image must have at least one pixel, found shape {img.shape}.")
    if img.dtype != np.uint8:
        f = img.astype(np.float64)
        finite = np.isfinite(f)
        lo = float(f[finite].min()) if finite.any() else 0.0
        hi = float(f[finite].max()) if finite.any() else 0.0
        f = np.where(finite, f, lo)
        f = (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)
        img = np.round(f * 255).astype(np.uint8)
    if invert and img.ndim == 2:
        img = 255 - img
    return np.ascontiguousarray(img)


def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(tag)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def encode_png(image: np.ndarray, *, scale: int = 1) -> bytes:
    """Encode a uint8 image of shape (H, W) or (H, W, 2|3|4) as PNG bytes.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W) grey or (H, W, C) with C in 2 (grey+alpha), 3 (RGB),
        4 (RGBA)
    scale : int, default=1
        Nearest-neighbour upscaling factor, 1..64 (an 8×8 digit at scale 8 becomes 64×64).

    Returns
    -------
    bytes
        A complete PNG file (8 bits per channel, no filtering, zlib level 6).
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"image must be uint8, found dtype {img.dtype}; see to_uint8_image.")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in _COLOUR_TYPE):
        raise ValueError(f"image must have shape (H, W) or (H, W, 2|3|4), found {img.shape}.")
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or not 1 <= scale <= 64:
        raise ValueError(f"scale must be an integer 1..64, found {scale!r}.")
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    h, w = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    # Each scanline starts with its filter type byte (0 = none).
    rows = np.zeros((h, 1 + w * channels), dtype=np.uint8)
    rows[:, 1:] = img.reshape(h, w * channels)
    header = struct.pack(">IIBBBBB", w, h, 8, _COLOUR_TYPE[channels], 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def png_data_url(image, *, scale: int = 1, invert: bool = False) -> str:
    """A ``data:image/png;base64,...`` URL of an image array.

    Parameters
    ----------
    image : array-like of shape (H, W), (H, W, 1|3|4), or (H*W,) for a square grey image
        Any numeric range (see :func:`to_uint8_image`).
    scale : int, default=1
        Nearest-neighbour upscaling factor, 1..64.
    invert : bool, default=False
        Dark ink on a light background for grey images.

    Examples
    --------
    >>> png_data_url(np.eye(8), scale=4)[:22]
    'data:image/png;base64,'
    """
    png = encode_png(to_uint8_image(image, invert=invert), scale=scale)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def preview_html(preview, *, size: int = 64, max_chars: int = 280) -> str:
    """HTML for one sample's preview: an ``<img>`` for arrays, an escaped snippet for text.

    Parameters
    ----------
    preview : array-like image, str, bytes or None
        Grey images are drawn dark on light; colour images as they are.
    size : int, default=64
        Displayed width in CSS pixels (pixels are upscaled without smoothing).
    max_chars : int, default=280
        Longer texts are cut with an ellipsis.
    """
    if preview is None:
        return '<span class="wb-nopreview">no preview</span>'
    if isinstance(preview, (str, bytes)):
        text = preview.decode(errors="replace") if isinstance(preview, bytes) else preview
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "\u2026"
        return f'<div class="wb-text">{html.escape(text)}</div>'
    arr = np.asarray(preview)
    if arr.ndim == 0 or arr.dtype.kind not in "biuf":
        return f'<div class="wb-text">{html.escape(str(preview))[:max_chars]}</div>'
    img = to_uint8_image(arr, invert=arr.ndim == 2 or (arr.ndim == 1))
    scale = max(1, min(64, size // max(img.shape[0], img.shape[1], 1)))
    url = "data:image/png;base64," + base64.b64encode(encode_png(img, scale=scale)).decode()
    return (
        f'<img class="wb-img" src="{url}" width="{size}" alt="preview" '
        'style="image-rendering:pixelated">'
    )
