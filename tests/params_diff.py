#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compares two bpgraph params files (docs/formats.md, version 2): the
same params (names and shapes), and every value within TOL of the other.
Prints the largest |a - b| and the largest |value|; exit status 1 when a
value differs by more than TOL or the params differ, 2 on a usage or read
error.  The standard library only.

    params_diff.py A.bpp B.bpp TOL
"""
import struct
import sys


def read_params(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"BPPARAMS" or struct.unpack_from("<I", data, 8)[0] != 2:
        raise ValueError(f"{path}: not a version 2 params file")
    count = struct.unpack_from("<I", data, 12)[0]
    at, params = 16, []
    for _ in range(count):
        (name_len,) = struct.unpack_from("<I", data, at)
        name = data[at + 4:at + 4 + name_len].decode()
        at += 4 + name_len
        (rank,) = struct.unpack_from("<I", data, at)
        dims = struct.unpack_from(f"<{rank}Q", data, at + 4)
        at += 4 + 8 * rank
        n = 1
        for d in dims:
            n *= d
        values = struct.unpack_from(f"<{n}d", data, at)
        at += 8 * n
        params.append((name, dims, values))
    return params


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        a, b, tol = read_params(argv[1]), read_params(argv[2]), float(argv[3])
    except (OSError, ValueError, struct.error) as e:
        print(f"params_diff: {e}", file=sys.stderr)
        return 2
    if [(n, d) for n, d, _ in a] != [(n, d) for n, d, _ in b]:
        print("params_diff: the files hold different params", file=sys.stderr)
        return 1
    worst = largest = 0.0
    for (_, _, va), (_, _, vb) in zip(a, b):
        for x, y in zip(va, vb):
            worst = max(worst, abs(x - y))
            largest = max(largest, abs(x), abs(y))
    print(f"max |a-b| {worst:.3g} (largest |value| {largest:.3g}, tolerance {tol:g})")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
