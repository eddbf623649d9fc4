#!/bin/sh
# Runs the tokenizer fuzz target on each fixture tokenizer for a bounded time and prints
# one summary line per tokenizer (executions, new corpus units, findings).
#
#   sh fuzz/run.sh                      # 60 s each on the six fixture tokenizers
#   FUZZ_TIME=300 sh fuzz/run.sh qwen3  # one tokenizer, longer
#   FUZZ_MAX_LEN=200000 sh fuzz/run.sh gemma3  # long inputs (default 4096 bytes)
#
# Seeds: the edge cases of ../shared/fixtures/tokenizers/corpus.jsonl plus every 10th
# other line, written once as raw files to $OUT/seeds. Each tokenizer keeps its own
# growing corpus in $OUT/corpus/<name>; crashes, leaks and timeouts are written as
# $OUT/artifacts/<name>-crash-*, -leak-*, -timeout-* (reproduce: run the target on the file).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-build-fuzz}
FUZZ_TIME=${FUZZ_TIME:-60}
FUZZ_MAX_LEN=${FUZZ_MAX_LEN:-4096}
SHARED=${XLING_SHARED:-../shared}
FIX="$SHARED/fixtures/tokenizers"
TARGET="$OUT/fuzz_tokenizer"
if [ ! -x "$TARGET" ]; then
    sh fuzz/build.sh || exit 1
fi
if [ ! -d "$FIX/models" ]; then
    echo "fuzz/run.sh: $FIX not found (set XLING_SHARED)" >&2
    exit 1
fi
if [ ! -d "$OUT/seeds" ]; then
    mkdir -p "$OUT/seeds"
    python3 - "$FIX/corpus.jsonl" "$OUT/seeds" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
for i, line in enumerate(open(src, encoding="utf-8")):
    c = json.loads(line)
    if c["src"].startswith("edge:") or i % 10 == 0:
        with open(os.path.join(dst, "seed-%04d" % c["id"]), "wb") as f:
            f.write(c["text"].encode("utf-8", "surrogatepass"))
PY
fi
names=${*:-"bert-wordpiece bert-cased xlmr-unigram llama3_1 qwen3 gemma3"}
mkdir -p "$OUT/artifacts" "$OUT/logs"
status=0
printf '%-16s %10s %8s %8s %s\n' tokenizer execs exec/s corpus findings
for name in $names; do
    mkdir -p "$OUT/corpus/$name"
    log="$OUT/logs/$name.log"
    XLING_FUZZ_TOKENIZER="$FIX/models/$name/tokenizer.json" "$TARGET" \
        -max_total_time="$FUZZ_TIME" -timeout=10 -rss_limit_mb=4096 -max_len="$FUZZ_MAX_LEN" \
        -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$name-" \
        "$OUT/corpus/$name" "$OUT/seeds" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    units=$(ls "$OUT/corpus/$name" | wc -l)
    found=$(ls "$OUT/artifacts" | grep -c "^$name-" || true)
    what="none"
    if [ "$rc" -ne 0 ]; then
        status=1
        what="exit $rc: $(grep -m 1 -E 'ERROR: |fuzz_tokenizer: |runtime error' "$log" | cut -c 1-120) (see $log)"
    elif [ "$found" -ne 0 ]; then
        what="$found artifact(s) in $OUT/artifacts"
    fi
    printf '%-16s %10s %8s %8s %s\n' "$name" "${execs:-?}" "${rate:-?}" "$units" "$what"
done
exit $status
