"""An image as a PNG data URI, with zlib alone (the image grids send one PNG; a static
heatmap is one RGB PNG)."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np


def png_data_uri(pixels: np.ndarray) -> str:
    """A (H, W) greyscale or (H, W, 3) RGB uint8 image as an 8-bit PNG ``data:`` URI."""
    h, w = pixels.shape[:2]
    rgb = pixels.ndim == 3
    rows = pixels.astype(np.uint8).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2 if rgb else 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()
