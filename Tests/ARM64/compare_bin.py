#!/usr/bin/env python3
"""Max absolute difference of two `.bin` tensor files (Tests/Fixtures/README.md), stdlib only.

    compare_bin.py ACTUAL EXPECTED TOLERANCE

Exit status 0 when the shapes agree and max |ACTUAL - EXPECTED| <= TOLERANCE, 1 otherwise.
"""

import json
import math
import struct
import sys


def read(path):
    raw = open(path, "rb").read()
    if raw[:8] != b"ZSMRAW01":
        sys.exit(f"{path}: not a .bin tensor file (bad magic)")
    (n,) = struct.unpack_from("<I", raw, 8)
    header = json.loads(raw[12 : 12 + n])
    offset, count = header["data_offset"], header["count"]
    if len(raw) != offset + 4 * count:
        sys.exit(f"{path}: {len(raw)} bytes do not match the header {header}")
    return header["shape"], struct.unpack_from(f"<{count}f", raw, offset)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    (shape_a, a), (shape_b, b) = read(sys.argv[1]), read(sys.argv[2])
    tolerance = float(sys.argv[3])
    if shape_a != shape_b:
        print(f"FAIL: shape {shape_a} vs the expected {shape_b}")
        return 1
    diff = max(abs(x - y) if not (math.isnan(x) or math.isnan(y)) else math.inf for x, y in zip(a, b))
    verdict = "ok" if diff <= tolerance else "FAIL"
    print(f"{verdict}: shape {shape_a}, max |diff| {diff:.3g} vs the expected output (tolerance {tolerance:g})")
    return 0 if diff <= tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
