#!/bin/sh
# Builds the libFuzzer targets with clang, ASan and UBSan, independently of the Makefile:
# every library source (src/*/*.c) is compiled with coverage instrumentation into
# $OUT/libxling-fuzz.a, then each fuzz/fuzz_*.c is linked against it.
#
#   sh fuzz/build.sh              # -> build-fuzz/fuzz_tokenizer, fuzz_safetensors, fuzz_config, fuzz_jsonl,
#                                 #    fuzz_pickle, fuzz_serve
#   OUT=dir CC=clang-14 JOBS=2 sh fuzz/build.sh
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-build-fuzz}
CC=${CC:-clang}
JOBS=${JOBS:-2}
PKGS="jansson libutf8proc libpcre2-8 openblas sqlite3 libzip libcurl libmicrohttpd"
if ! command -v "$CC" >/dev/null; then
    echo "fuzz/build.sh: $CC not found (Debian: apt-get install clang)" >&2
    exit 1
fi
PKG_CFLAGS=$(pkg-config --cflags $PKGS)
PKG_LIBS=$(pkg-config --libs $PKGS)
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fopenmp -Iinclude -Isrc $PKG_CFLAGS $SAN"
mkdir -p "$OUT/obj"

# Library objects: coverage for the fuzzer without libFuzzer's main. The numeric
# kernels (src/kernels) get the sanitizers but no coverage: their inner loops would
# spend most of fuzz_config's time on coverage callbacks that guide nothing.
ls src/*/*.c | xargs -P "$JOBS" -I{} sh -c '
    o="$0/obj/$(echo "{}" | tr / _ | sed "s/\.c$/.o/")"
    if [ ! -f "$o" ] || [ "{}" -nt "$o" ] || [ "$(find src include -name "*.h" -newer "$o" | head -n 1)" ]; then
        echo "CC {}"
        # One kernel set (generic, the portable one), named as the Makefile names a
        # single set: the sanitizers check the code, not the CPU-specific variants.
        case "{}" in
        src/kernels/dispatch.c) cov="-fsanitize=fuzzer-no-link -DXL_ISA_SINGLE=generic -DXL_ISA_SINGLE_LABEL=\"generic\"" ;;
        src/kernels/*) cov="-include src/kernels/isa_rename.h -DXL_ISA_SUFFIX=generic -DXL_ISA_LABEL=\"generic\"" ;;
        *) cov=-fsanitize=fuzzer-no-link ;;
        esac
        $1 $2 $cov -c "{}" -o "$o"
    fi' "$OUT" "$CC" "$CFLAGS"
# Objects of deleted sources must not linger in the archive.
rm -f "$OUT/libxling-fuzz.a"
for o in "$OUT"/obj/*.o; do
    src=$(basename "$o" .o | sed 's/^src_\([^_]*\)_/src\/\1\//').c
    [ -f "$src" ] || rm -f "$o"
done
ar rcs "$OUT/libxling-fuzz.a" "$OUT"/obj/*.o

# CLI and server sources a target links besides the library (instrumented too):
# fuzz_jsonl reads through cli/input.c; fuzz_serve calls the server's route handlers
# (every server file but serve.c, whose g_srv the target defines).
extra_sources() {
    case "$1" in
    fuzz_jsonl) echo cli/input.c cli/common.c ;;
    fuzz_serve) ls server/*.c | grep -v '^server/serve\.c$' ;;
    esac
}

for f in fuzz/fuzz_*.c; do
    name=$(basename "$f" .c)
    echo "LINK $OUT/$name"
    $CC $CFLAGS -Icli -Iserver -fsanitize=fuzzer "$f" $(extra_sources "$name") "$OUT/libxling-fuzz.a" $PKG_LIBS -lm -lpthread \
        -o "$OUT/$name"
done
