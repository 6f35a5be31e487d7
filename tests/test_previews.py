"""PNG encoding and preview HTML (workbench.core.previews), checked by decoding the PNG ourselves."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import pytest

from workbench.core.previews import encode_png, png_data_url, preview_html, to_uint8_image


def decode_png(data: bytes) -> np.ndarray:
    """Minimal PNG reader for what encode_png writes (8-bit, filter 0), checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    tags = []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, f"bad CRC in {tag}"
        tags.append(tag)
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    assert tags[0] == b"IHDR" and tags[-1] == b"IEND"
    w, h, depth, colour, *_ = header
    assert depth == 8
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * channels)
    assert (raw[:, 0] == 0).all()  # filter type "none" on every scanline
    img = raw[:, 1:].reshape(h, w, channels)
    return img[:, :, 0] if channels == 1 else img


@pytest.mark.parametrize("shape", [(8, 8), (5, 7, 3), (4, 6, 4), (3, 2, 2), (1, 1)])
def test_encode_png_round_trips(shape):
    img = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(img)), img)


def test_encode_png_scales_by_nearest_neighbour():
    img = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    out = decode_png(encode_png(img, scale=4))
    assert out.shape == (8, 12)
    np.testing.assert_array_equal(out[::4, ::4], img)
    np.testing.assert_array_equal(out[3::4, 3::4], img)


def test_encode_png_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        encode_png(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((2, 2, 5), dtype=np.uint8))
    for scale in (0, 65, 2.5, True):
        with pytest.raises(ValueError, match="scale"):
            encode_png(np.zeros((2, 2), dtype=np.uint8), scale=scale)


def test_to_uint8_image_stretches_floats_and_handles_edge_cases():
    out = to_uint8_image(np.array([[0.0, 0.5], [1.0, np.nan]]))
    np.testing.assert_array_equal(out, [[0, 128], [255, 0]])  # NaN becomes the minimum
    np.testing.assert_array_equal(to_uint8_image(np.full((2, 2), 7.0)), np.zeros((2, 2)))
    assert to_uint8_image(np.arange(16)).shape == (4, 4)  # square 1-D input
    assert to_uint8_image(np.zeros((3, 3, 1), np.uint8)).shape == (3, 3)
    np.testing.assert_array_equal(
        to_uint8_image(np.array([[0, 255]], np.uint8), invert=True), [[255, 0]]
    )
    with pytest.raises(ValueError, match="square"):
        to_uint8_image(np.arange(10))
    with pytest.raises(ValueError, match="shape"):
        to_uint8_image(np.zeros((2, 2, 2, 2)))
    with pytest.raises(TypeError, match="numeric"):
        to_uint8_image(np.array([["a", "b"]]))


def test_png_data_url_decodes_to_the_image():
    img = (np.eye(8) * 16).astype(np.float64)
    url = png_data_url(img, scale=2, invert=True)
    assert url.startswith("data:image/png;base64,")
    out = decode_png(base64.b64decode(url.split(",", 1)[1]))
    assert out.shape == (16, 16)
    assert out[0, 0] == 0 and out[0, 2] == 255  # ink dark on light after inverting


def test_preview_html_for_images_text_and_nothing():
    html_img = preview_html(np.arange(64).reshape(8, 8), size=64)
    assert html_img.startswith('<img class="wb-img" src="data:image/png;base64,')
    assert 'width="64"' in html_img
    text = preview_html("a <b> & " + "x" * 500, max_chars=20)
    assert "&lt;b&gt; &amp;" in text and "<b>" not in text and len(text) < 100
    assert "no preview" in preview_html(None)
    assert "café" in preview_html("café".encode())
