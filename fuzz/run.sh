#!/bin/sh
# Runs the fuzz targets for a bounded time each, one after the other (one core each),
# and prints one summary line per run: executions, executions per second, coverage
# (libFuzzer's edge count), corpus units, findings.
#
#   sh fuzz/run.sh                      # every target, 60 s each
#   sh fuzz/run.sh safetensors jsonl    # some targets
#   sh fuzz/run.sh qwen3                # the tokenizer target on one tokenizer
#   FUZZ_TIME=300 sh fuzz/run.sh config # longer
#   FUZZ_RUNS=3000000 sh fuzz/run.sh jsonl   # a number of executions instead of a time
#   FUZZ_MAX_LEN=200000 sh fuzz/run.sh gemma3  # longer inputs (defaults: see max_len)
#
# Targets: tokenizers (fuzz_tokenizer on each of the six fixture tokenizers, or name one
# tokenizer), safetensors (fuzz_safetensors), config (fuzz_config: config.json and the
# sentence-transformers module files), jsonl (fuzz_jsonl: the CLI's input reader),
# pickle (fuzz_pickle: the data.pkl of torch.save files), serve (fuzz_serve: request
# bodies through the server's routes, on the xlmr-tiny embedding model and on the
# xlmr-reranker-tiny and bert-nli-tiny cross-encoders).
#
# Seeds: for the tokenizers, the edge cases of ../shared/fixtures/tokenizers/corpus.jsonl
# plus every 10th other line ($OUT/seeds); for the others, fuzz/make_seeds.py
# ($OUT/seeds-<target>, and $OUT/config-models for fuzz_config). Each run keeps its own
# growing corpus in $OUT/corpus/<name>; crashes, leaks and timeouts are written as
# $OUT/artifacts/<name>-crash-*, -leak-*, -timeout-* (reproduce: run the target on the
# file, with the environment the log's first line shows). Temporary files go to
# $TMPDIR, /dev/shm by default when it exists (fuzz_config and fuzz_jsonl write one per
# input; on a disk they run several times slower).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-build-fuzz}
FUZZ_TIME=${FUZZ_TIME:-60}
FUZZ_RUNS=${FUZZ_RUNS:-}
SHARED=${XLING_SHARED:-../shared}
FIX="$SHARED/fixtures"
TOKENIZERS="bert-wordpiece bert-cased xlmr-unigram llama3_1 qwen3 gemma3"
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then TMPDIR=/dev/shm; fi
export TMPDIR=${TMPDIR:-/tmp}
for t in tokenizer safetensors config jsonl pickle serve; do
    if [ ! -x "$OUT/fuzz_$t" ]; then
        sh fuzz/build.sh || exit 1
        break
    fi
done
if [ ! -d "$FIX/tokenizers/models" ] || [ ! -d "$FIX/models" ]; then
    echo "fuzz/run.sh: $FIX not found (set XLING_SHARED)" >&2
    exit 1
fi
if [ ! -d "$OUT/seeds" ]; then
    mkdir -p "$OUT/seeds"
    python3 - "$FIX/tokenizers/corpus.jsonl" "$OUT/seeds" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
for i, line in enumerate(open(src, encoding="utf-8")):
    c = json.loads(line)
    if c["src"].startswith("edge:") or i % 10 == 0:
        with open(os.path.join(dst, "seed-%04d" % c["id"]), "wb") as f:
            f.write(c["text"].encode("utf-8", "surrogatepass"))
PY
fi
if [ ! -d "$OUT/config-models" ] || [ fuzz/make_seeds.py -nt "$OUT/config-models" ]; then
    rm -rf "$OUT/seeds-safetensors" "$OUT/seeds-config" "$OUT/seeds-jsonl" "$OUT/config-models"
    python3 fuzz/make_seeds.py "$FIX" "$OUT" || exit 1
fi

# fuzz_pickle's seeds: the data.pkl of the repository's fixture .pt files (bge-m3 heads).
if [ ! -d "$OUT/seeds-pickle" ]; then
    mkdir -p "$OUT/seeds-pickle"
    python3 - "$OUT/seeds-pickle" tests/fixtures/pt/*.pt <<'PY' || exit 1
import os, sys, zipfile
for path in sys.argv[2:]:
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith("/data.pkl"):
                with open(os.path.join(sys.argv[1], os.path.basename(path) + ".pkl"), "wb") as f:
                    f.write(z.read(name))
PY
fi

# fuzz_serve's seeds: one body per route (the first byte picks the route, as the target
# reads it), valid requests with every field the routes take.
if [ ! -d "$OUT/seeds-serve" ] || [ fuzz/run.sh -nt "$OUT/seeds-serve" ]; then
    mkdir -p "$OUT/seeds-serve"
    python3 - "$OUT/seeds-serve" <<'PY' || exit 1
import json, os, sys
bodies = [
    (0, {"input": "Hello world"}), (0, {"input": ["a", "b"], "encoding_format": "base64", "dimensions": 8}),
    (0, {"input": [[0, 581, 2], [0, 2]]}), (0, {"input": "x", "model": "fuzz-model"}),
    (1, {"inputs": ["Hallo Welt", "Bonjour"], "normalize": False, "truncate": True, "truncation_direction": "Left"}),
    (1, {"inputs": [0, 581, 2], "dimensions": 4}), (1, {"inputs": "query", "prompt_name": "query"}),
    (2, {"inputs": "token states"}), (3, {"inputs": ["a"]}),
    (4, {"inputs": {"source_sentence": "a", "sentences": ["b", "c"]}, "parameters": {"truncate": True}}),
    (5, {"inputs": ["h\u00e9llo w\u00f6rld", "x"], "add_special_tokens": False}),
    (6, {"query": "q", "texts": ["a", "b"], "raw_scores": True, "return_text": True, "truncate": True}),
    (7, {"query": "q", "documents": ["a", {"text": "b"}], "top_n": 1, "return_documents": True}),
    (8, {"inputs": [["a", "b"], ["c"]], "raw_scores": False}), (8, {"inputs": ["premise", "hypothesis"]}),
]
for i, (k, b) in enumerate(bodies):
    with open(os.path.join(sys.argv[1], "route%d-%02d" % (k, i)), "wb") as f:
        f.write(bytes([k]) + json.dumps(b, ensure_ascii=False).encode())
PY
fi

# Expands the arguments into runs: "name target seeds max_len dict env".
runs() {
    for a in ${*:-tokenizers safetensors config jsonl pickle serve}; do
        case "$a" in
        tokenizers) for t in $TOKENIZERS; do runs "$t"; done ;;
        safetensors) echo "safetensors fuzz_safetensors seeds-safetensors 16384 fuzz/safetensors.dict -" ;;
        config) echo "config fuzz_config seeds-config 8192 fuzz/config.dict XLING_FUZZ_MODELS=$OUT/config-models" ;;
        jsonl) echo "jsonl fuzz_jsonl seeds-jsonl 4096 fuzz/jsonl.dict -" ;;
        pickle) echo "pickle fuzz_pickle seeds-pickle 4096 fuzz/pickle.dict -" ;;
        serve)
            echo "serve fuzz_serve seeds-serve 4096 fuzz/serve.dict -"
            echo "serve-rerank fuzz_serve seeds-serve 4096 fuzz/serve.dict XLING_FUZZ_SERVE_MODEL=$FIX/models/xlmr-reranker-tiny"
            echo "serve-nli fuzz_serve seeds-serve 4096 fuzz/serve.dict XLING_FUZZ_SERVE_MODEL=$FIX/models/bert-nli-tiny" ;;
        *)
            if [ -f "$FIX/tokenizers/models/$a/tokenizer.json" ]; then
                echo "$a fuzz_tokenizer seeds 4096 - XLING_FUZZ_TOKENIZER=$FIX/tokenizers/models/$a/tokenizer.json"
            else
                echo "fuzz/run.sh: unknown target or tokenizer '$a'" >&2
                echo "fail"
            fi ;;
        esac
    done
}

mkdir -p "$OUT/artifacts" "$OUT/logs"
rm -f "$OUT/logs/.failed" # the loop below runs in a subshell: failures come back through this file
status=0
printf '%-16s %10s %8s %7s %8s %s\n' run execs exec/s cov corpus findings
runs "$@" | while read -r name target seeds max_len dict env; do
    [ "$name" = fail ] && { echo fail >"$OUT/logs/.failed"; continue; }
    mkdir -p "$OUT/corpus/$name"
    log="$OUT/logs/$name.log"
    bound="-max_total_time=$FUZZ_TIME"
    [ -n "$FUZZ_RUNS" ] && bound="-runs=$FUZZ_RUNS"
    dictarg=""
    [ "$dict" != - ] && dictarg="-dict=$dict"
    [ "$env" = - ] && env=""
    echo "env: $env TMPDIR=$TMPDIR" >"$log"
    env $env nice "$OUT/$target" $bound $dictarg -timeout=10 -rss_limit_mb=4096 \
        -max_len="${FUZZ_MAX_LEN:-$max_len}" -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$name-" \
        "$OUT/corpus/$name" "$OUT/$seeds" >>"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    units=$(ls "$OUT/corpus/$name" | wc -l)
    found=$(ls "$OUT/artifacts" | grep -c "^$name-" || true)
    what="none"
    if [ "$rc" -ne 0 ]; then
        what="exit $rc: $(grep -m 1 -E 'ERROR: |fuzz_[a-z]*: |runtime error' "$log" | cut -c 1-120) (see $log)"
    elif [ "$found" -ne 0 ]; then
        what="$found artifact(s) in $OUT/artifacts"
    fi
    printf '%-16s %10s %8s %7s %8s %s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$units" "$what"
    [ "$what" = none ] || echo fail >"$OUT/logs/.failed"
done
[ -f "$OUT/logs/.failed" ] && { rm -f "$OUT/logs/.failed"; status=1; }
exit $status
