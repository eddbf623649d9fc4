#!/bin/sh
# Build check for one kernel-set object (Makefile): every global xl_* function it
# defines must carry the set's suffix, i.e. be listed in src/kernels/isa_rename.h.
# Usage: check_isa_symbols.sh NM OBJECT SUFFIX. Skipped when NM cannot read the object.
nm_cmd=$1; obj=$2; suffix=$3
syms=$($nm_cmd -g --defined-only "$obj" 2>/dev/null) || exit 0
bad=$(echo "$syms" | awk -v s="_$suffix" '$3 ~ /^xl_/ && substr($3, length($3) - length(s) + 1) != s { print $3 }')
if [ -n "$bad" ]; then
    echo "$obj: kernel functions not renamed per kernel set (list them in src/kernels/isa_rename.h and src/kernels/dispatch.h):" $bad >&2
    rm -f "$obj"
    exit 1
fi
