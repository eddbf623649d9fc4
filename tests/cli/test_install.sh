#!/bin/sh
# `make install PREFIX=...` into a temporary folder, then a tiny program compiled with
# `pkg-config --cflags --libs xling` against the installed shared library (and once with
# --static) must run and tokenize a text to the ids the fixture tokenizer gives.
# Prints "test_install: N passed, N failed, N skipped".
BUILD=${BUILD:-build}
pass=0; fail=0; skip=0
ok() { if [ "$1" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $2"; fi; }
case "$BUILD" in
*asan*) echo "SKIP install: sanitizer build (the shared library would need the ASan runtime first)"
        echo "test_install: 0 passed, 0 failed, 1 skipped"; exit 0;;
esac
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
make -s -j2 install BUILD="$BUILD" PREFIX="$d/prefix" >"$d/log" 2>&1; rc=$?
ok $rc "make install: $(tail -n 5 "$d/log")"
for f in bin/xling lib/libxling.a lib/libxling.so lib/libxling.so.0 include/xling.h lib/pkgconfig/xling.pc; do
    [ -e "$d/prefix/$f" ]; ok $? "installed $f"
done
"$d/prefix/bin/xling" --version | grep -q '^xling [0-9]'; ok $? "installed xling --version"
cat >"$d/t.c" <<'C'
#include <stdio.h>
#include <xling.h>
int main(int argc, char **argv) {
    xl_tokenizer *tok;
    xl_encoding e;
    if (argc < 2 || xl_tokenizer_load(argv[1], &tok) || xl_tokenize(tok, "hello world", 11, 1, &e)) {
        fprintf(stderr, "%s\n", xl_last_error());
        return 1;
    }
    for (size_t i = 0; i < e.n; i++) printf(i ? " %d" : "%d", e.ids[i]);
    printf("\n");
    xl_encoding_free(&e);
    xl_tokenizer_free(tok);
    return 0;
}
C
export PKG_CONFIG_PATH="$d/prefix/lib/pkgconfig"
tok=tests/fixtures/models/bert-tiny
want=$(echo "hello world" | "$BUILD/xling" tokenize -m $tok | sed -E 's/.*"ids":\[([0-9,]*)\].*/\1/; s/,/ /g')
# shellcheck disable=SC2046
cc -o "$d/t" "$d/t.c" $(pkg-config --cflags --libs xling) 2>"$d/cc.log"; ok $? "compile with pkg-config: $(cat "$d/cc.log")"
got=$("$d/t" $tok 2>&1); [ -n "$want" ] && [ "$got" = "$want" ]; ok $? "shared: ids '$got', want '$want'"
ldd "$d/t" | grep -q "$d/prefix/lib/libxling.so"; ok $? "the program uses the installed shared library"
# shellcheck disable=SC2046
cc -o "$d/ts" "$d/t.c" -I"$d/prefix/include" "$d/prefix/lib/libxling.a" $(pkg-config --static --libs xling | sed 's/-lxling//') 2>"$d/cc2.log"
ok $? "compile static with pkg-config --static: $(cat "$d/cc2.log")"
got=$("$d/ts" $tok 2>&1); [ "$got" = "$want" ]; ok $? "static: ids '$got'"
echo "test_install: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
