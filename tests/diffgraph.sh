#!/bin/sh
# SPDX-License-Identifier: MIT
# The differential test: random graphs of the built-in ops on random shapes
# and values (tests/diffgraph_gen), every value and gradient recomputed in
# numpy by tests/diffgraph_ref.py, which shares no code with bpgraph.
# Skipped (exit 77) without a python3 that has numpy.  DIFFGRAPH_COUNT and
# DIFFGRAPH_SEED pick other graphs than the default 400 from seed 1.
set -u

gen="${top_builddir:-.}/tests/diffgraph_gen"
ref="${top_srcdir:-.}/tests/diffgraph_ref.py"
# $PYTHON if set, else the first python3 that has numpy (a python3 of a
# version manager may come first in PATH without it)
python=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$p" -c 'import numpy' 2>/dev/null; then
        python=$p
        break
    fi
done
if [ -z "$python" ]; then
    echo "diffgraph.sh: python3 with numpy not found (apt-get install python3-numpy); skipped" >&2
    exit 77
fi
tmp=$(mktemp "${TMPDIR:-/tmp}/bp_diffgraph.XXXXXX") || exit 1
trap 'rm -f "$tmp"' EXIT
"$gen" "${DIFFGRAPH_COUNT:-400}" "${DIFFGRAPH_SEED:-1}" >"$tmp" || exit 1
"$python" "$ref" "$tmp"
