"""A small PNG reader for the screenshot tests: 8-bit RGB or RGBA, not interlaced (what Chromium writes).

numpy undoes the row filters (None, Sub, Up at once; Average and Paeth pixel by pixel along the row)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(data: bytes) -> npt.NDArray[np.uint8]:
    """The pixels as an array (height, width, 3 or 4)."""
    assert data.startswith(SIGNATURE), "not a PNG file"
    pos, idat, header = len(SIGNATURE), bytearray(), None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    assert header is not None, "no IHDR chunk"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG: {header}"
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.uint8)
    previous = np.zeros(width * channels, dtype=np.uint8)
    for y in range(height):
        out[y] = previous = _unfilter(int(raw[y, 0]), raw[y, 1:], previous, channels)
    return out.reshape(height, width, channels)


def _unfilter(kind: int, row: npt.NDArray[np.uint8], up: npt.NDArray[np.uint8],
              bpp: int) -> npt.NDArray[np.uint8]:
    if kind == 0:
        return row.copy()
    if kind == 1:  # Sub: a running sum per channel
        return (np.cumsum(row.reshape(-1, bpp).astype(np.uint32), axis=0) % 256).astype(np.uint8).reshape(-1)
    if kind == 2:
        return (row.astype(np.uint16) + up).astype(np.uint8)
    line, above = row.tolist(), up.tolist()
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 3:
            line[i] = (line[i] + (left + above[i]) // 2) & 0xFF
        else:
            corner = above[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + _paeth(left, above[i], corner)) & 0xFF
    return np.array(line, dtype=np.uint8)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def colour_share(pixels: npt.NDArray[np.uint8], hex_colour: str, *, tolerance: int = 0) -> float:
    """The share of pixels of colour `#rrggbb` (each channel within `tolerance`)."""
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    close = np.abs(pixels[:, :, :3].astype(np.int16) - rgb) <= tolerance
    return float(close.all(axis=2).mean())
