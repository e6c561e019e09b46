#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs into a temporary root, then builds and runs a program outside
# the tree the way a user would: cc prog.c $(pkg-config --cflags --libs bpgraph).
set -eu
: "${top_builddir:?run from make check}" "${top_srcdir:?run from make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

${MAKE:-make} -s -C "$top_builddir" install DESTDIR="$tmp" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; exit 1; }
libdir=$(PKG_CONFIG_PATH="$top_builddir" pkg-config --variable=libdir bpgraph)
includedir=$(PKG_CONFIG_PATH="$top_builddir" pkg-config --variable=includedir bpgraph)
test -f "$tmp$includedir/bpgraph.h"
test -f "$tmp$includedir/bpgraph/graph.h"
test -f "$tmp$libdir/pkgconfig/bpgraph.pc"
test -f "$tmp$includedir/bpgraph/version.h"
ls "$tmp$libdir"/libbpgraph.so* "$tmp$libdir"/libbpgraph.a >/dev/null

# The tools under names of their own, each with its manual page; none
# under the short names of the build tree.
bindir=$(find "$tmp" -type f -name bpgraph-gradcheck | sed 's|/bpgraph-gradcheck$||')
[ -n "$bindir" ] || { echo "bpgraph-gradcheck not installed"; exit 1; }
for t in gradcheck train bench; do
    test -x "$bindir/bpgraph-$t" || { echo "bpgraph-$t not installed in $bindir"; exit 1; }
    test ! -e "$bindir/$t" || { echo "$t installed under its short name"; exit 1; }
    find "$tmp" -path "*/man1/bpgraph-$t.1" | grep -q . || { echo "no man page bpgraph-$t.1"; exit 1; }
done
find "$tmp" -path '*/man3/bpgraph.3' | grep -q . || { echo "no man page bpgraph.3"; exit 1; }
LD_LIBRARY_PATH="$tmp$libdir" "$bindir/bpgraph-gradcheck" --version | grep -q '^bpgraph-gradcheck (bpgraph) ' ||
    { echo "installed bpgraph-gradcheck --version does not name itself"; exit 1; }

export PKG_CONFIG_PATH="$tmp$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp"
flags=$(pkg-config --cflags --libs bpgraph)
echo "cc install_prog.c $flags"
# CFLAGS and LDFLAGS as configured: a library built with
# --enable-sanitizers needs its programs linked with the same runtime.
${CC:-cc} ${CFLAGS:-} "$top_srcdir/tests/install_prog.c" -o "$tmp/prog" $flags ${LDFLAGS:-}
LD_LIBRARY_PATH="$tmp$libdir" "$tmp/prog"

# Only bp_-prefixed symbols are exported.
if command -v nm >/dev/null; then
    leaked=$(nm -D --defined-only "$tmp$libdir/libbpgraph.so" | awk '{print $3}' | grep -v '^bp_' || true)
    if [ -n "$leaked" ]; then
        echo "symbols exported without the bp_ prefix:"; echo "$leaked"; exit 1
    fi
fi

# debian/libbpgraph0.symbols lists exactly the exported functions (a new
# one goes there with the version that first has it: configure.ac).
if command -v nm >/dev/null && [ -f "$top_srcdir/debian/libbpgraph0.symbols" ]; then
    nm -D --defined-only "$tmp$libdir/libbpgraph.so" | awk '{print $3}' | sort >"$tmp/exported"
    sed -n 's/^ \(bp_[A-Za-z0-9_]*\)@Base .*/\1/p' "$top_srcdir/debian/libbpgraph0.symbols" | sort >"$tmp/listed"
    if ! cmp -s "$tmp/exported" "$tmp/listed"; then
        echo "debian/libbpgraph0.symbols and the library's exports differ (< exported only, > listed only):"
        diff "$tmp/exported" "$tmp/listed"; exit 1
    fi
fi

# libbpgraph never needs MPI, even in a build that makes libbpgraph-mpi.
if command -v objdump >/dev/null; then
    if objdump -p "$tmp$libdir/libbpgraph.so" | grep 'NEEDED.*mpi'; then
        echo "libbpgraph.so links MPI"; exit 1
    fi
fi

# With MPI configured: libbpgraph-mpi, its header and bpgraph-mpi.pc, and a
# program built with them the same way; run on one rank.
if [ -f "$tmp$libdir/pkgconfig/bpgraph-mpi.pc" ]; then
    test -f "$tmp$includedir/bpgraph-mpi.h"
    test -x "$bindir/bpgraph-train-mpi" || { echo "bpgraph-train-mpi not installed in $bindir"; exit 1; }
    find "$tmp" -path "*/man1/bpgraph-train-mpi.1" | grep -q . || { echo "no man page bpgraph-train-mpi.1"; exit 1; }
    # MPI's own flags name the system's paths, which the sysroot would
    # redirect: the installed tree's paths go first instead.
    flags="-I$tmp$includedir -L$tmp$libdir $(PKG_CONFIG_SYSROOT_DIR= pkg-config --cflags --libs bpgraph-mpi)"
    echo "cc install_prog_mpi.c $flags"
    ${CC:-cc} ${CFLAGS:-} "$top_srcdir/tests/install_prog_mpi.c" -o "$tmp/prog_mpi" $flags ${LDFLAGS:-}
    if command -v nm >/dev/null; then
        leaked=$(nm -D --defined-only "$tmp$libdir/libbpgraph-mpi.so" | awk '{print $3}' | grep -v '^bp_dist_' || true)
        if [ -n "$leaked" ]; then
            echo "libbpgraph-mpi exports symbols without the bp_dist_ prefix:"; echo "$leaked"; exit 1
        fi
    fi
    if [ -n "${MPIRUN:-}" ] && command -v "$MPIRUN" >/dev/null; then
        root=
        [ "$(id -u)" -eq 0 ] && root=--allow-run-as-root
        LD_LIBRARY_PATH="$tmp$libdir" timeout 60 "$MPIRUN" $root --oversubscribe -np 1 \
            -x LD_LIBRARY_PATH "$tmp/prog_mpi"
    fi
fi

# The installed header marks the statuses that must be checked
# (BP_WARN_UNUSED): with GCC or clang, ignoring bp_forward's is an error
# under -Werror=unused-result, and checking it is not.
if ${CC:-cc} -dM -E - </dev/null | grep -q '__GNUC__'; then
    for checked in 0 1; do
        cat >"$tmp/status.c" <<PROG
#include <bpgraph.h>
int main(void)
{
    bp_graph *g = bp_graph_new();
#if $checked
    if (bp_forward(g, NULL) == BP_OK)
        return 1;
#else
    bp_forward(g, NULL);
#endif
    bp_graph_free(g);
    return 0;
}
PROG
        if ${CC:-cc} -c -Werror=unused-result $(pkg-config --cflags bpgraph) "$tmp/status.c" \
               -o "$tmp/status.o" 2>"$tmp/status.log"; then
            test "$checked" = 1 || { echo "an unchecked bp_forward compiled without a warning"; exit 1; }
        else
            test "$checked" = 0 || { cat "$tmp/status.log"; exit 1; }
            grep -q 'unused-result' "$tmp/status.log"
        fi
    done
fi
