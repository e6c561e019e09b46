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

# The ABI, as Debian's symbols files keep it: every exported symbol is
# declared in an installed header and every function declared there is
# exported (static inline helpers aside); no symbol listed in
# debian/libbpgraph0.symbols may disappear (an ABI break).  An export not
# listed yet is only a note: the release lists it with its version
# (docs/HACKING.md, "Releasing"), as dpkg-gensymbols -c1 warns of it.
if command -v nm >/dev/null; then
    nm -D --defined-only "$tmp$libdir/libbpgraph.so" | awk '{print $3}' | sort -u >"$tmp/exported"
    ${CC:-cc} -E -P -I"$tmp$includedir" "$tmp$includedir/bpgraph.h" >"$tmp/api.i"
    grep -o 'bp_[A-Za-z0-9_]*(' "$tmp/api.i" | tr -d '(' | sort -u >"$tmp/called"
    sed -n 's/.*static inline .*[ *]\(bp_[A-Za-z0-9_]*\)(.*/\1/p' "$tmp/api.i" | sort -u >"$tmp/inline"
    comm -23 "$tmp/called" "$tmp/inline" >"$tmp/declared"
    undeclared=$(comm -23 "$tmp/exported" "$tmp/declared")
    unexported=$(comm -13 "$tmp/exported" "$tmp/declared")
    if [ -n "$undeclared" ] || [ -n "$unexported" ]; then
        echo "exported but declared in no installed header:"; echo "$undeclared"
        echo "declared but not exported:"; echo "$unexported"; exit 1
    fi
    if [ -f "$top_srcdir/debian/libbpgraph0.symbols" ]; then
        sed -n 's/^ \(bp_[A-Za-z0-9_]*\)@Base .*/\1/p' "$top_srcdir/debian/libbpgraph0.symbols" |
            sort -u >"$tmp/listed"
        gone=$(comm -23 "$tmp/listed" "$tmp/exported")
        if [ -n "$gone" ]; then
            echo "listed in debian/libbpgraph0.symbols but no longer exported (an ABI break):"
            echo "$gone"; exit 1
        fi
        new=$(comm -13 "$tmp/listed" "$tmp/exported")
        if [ -n "$new" ]; then
            echo "note: exported, not yet in debian/libbpgraph0.symbols (the release adds them):"
            echo "$new"
        fi
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
