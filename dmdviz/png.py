"""A greyscale image as a PNG data URI, with zlib alone (the image grids send one PNG)."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np


def png_data_uri(grey: np.ndarray) -> str:
    """A (H, W) uint8 image as an 8-bit greyscale PNG ``data:`` URI."""
    h, w = grey.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), grey.astype(np.uint8)], axis=1).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()
