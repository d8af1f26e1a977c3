"""Reader and writer of the fixtures' `.bin` tensor format (see the fixtures README).

Layout, all integers little-endian:

| bytes                | content                                                        |
|----------------------|----------------------------------------------------------------|
| 0..7                 | ASCII magic `ZSMRAW01`                                         |
| 8..11                | uint32 `header_len`                                            |
| 12..12+header_len    | UTF-8 JSON header, space-padded so that the data starts at a   |
|                      | multiple of 16; keys `name`, `dtype`, `endianness`, `shape`,   |
|                      | `layout`, `count`, `data_offset` (absolute)                    |
| data_offset..        | `count` float32 values, C order (last axis fastest)            |
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

MAGIC = b"ZSMRAW01"
ALIGN = 16
_PREFIX = len(MAGIC) + 4  # magic + uint32 header length


def write_bin(path: Path, name: str, array: np.ndarray, layout: str) -> None:
    """Write `array` (converted to little-endian float32) as a `.bin` tensor file."""
    data = np.ascontiguousarray(array, dtype="<f4")
    header = {"name": name, "dtype": "float32", "endianness": "little", "shape": list(data.shape),
              "layout": layout, "count": int(data.size), "data_offset": 0}
    # data_offset depends on the header length, which depends on data_offset's digits:
    # iterate until the padded length is stable (two rounds at most in practice).
    while True:
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
        data_offset = -(-(_PREFIX + len(text)) // ALIGN) * ALIGN
        if header["data_offset"] == data_offset:
            break
        header["data_offset"] = data_offset
    text = text.ljust(data_offset - _PREFIX, b" ")
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(text)) + text + data.tobytes())


def read_bin(path: Path) -> tuple[dict, np.ndarray]:
    """Read a `.bin` tensor file; returns `(header, array)` with the array in its shape."""
    raw = Path(path).read_bytes()
    if raw[: len(MAGIC)] != MAGIC:
        raise ValueError(f"{path}: bad magic {raw[:len(MAGIC)]!r}")
    (header_len,) = struct.unpack_from("<I", raw, len(MAGIC))
    header = json.loads(raw[_PREFIX : _PREFIX + header_len].decode("utf-8"))
    if header["dtype"] != "float32" or header["endianness"] != "little":
        raise ValueError(f"{path}: unsupported dtype/endianness in {header}")
    offset, count = header["data_offset"], header["count"]
    if offset % ALIGN or offset < _PREFIX + header_len or len(raw) != offset + 4 * count:
        raise ValueError(f"{path}: inconsistent header {header} for a file of {len(raw)} bytes")
    array = np.frombuffer(raw, dtype="<f4", count=count, offset=offset).reshape(header["shape"])
    return header, array
