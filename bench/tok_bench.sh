#!/bin/sh
# Tokenizer speed table: xling (bench/tok_speed.c) against the Hugging Face JS port
# (bench/tok_speed_js.mjs) and sentencepiece (bench/tok_speed_spm.py, for the
# sentencepiece-style tokenizers), on every Tatoeba sentence, one thread, no special
# tokens. Each (tokenizer, implementation) runs TOK_BENCH_RUNS times (default 3) as a fresh
# process; the table shows medians and how many times faster xling is.
#
#   sh bench/setup_tok_bench.sh        # once: the JS port and sentencepiece
#   sh bench/tok_bench.sh              # all six fixture tokenizers (~10 min on 2 cores)
#   TOK_BENCH_RUNS=5 TOK_BENCH_IMPLS="xling js" sh bench/tok_bench.sh llama3_1 gemma3
#
# Needs an otherwise idle machine: every figure moves with a second busy process.
# Raw JSON lines go to $TOK_BENCH_OUT (default $BUILD/tok_bench.jsonl).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUNS=${TOK_BENCH_RUNS:-3}
IMPLS=${TOK_BENCH_IMPLS:-"xling js spm"}
SHARED=${XLING_SHARED:-../shared}
FIX="$SHARED/fixtures/tokenizers/models"
DATA=${TATOEBA_DIR:-$SHARED/data/tatoeba/v1}
OUTF=${TOK_BENCH_OUT:-$BUILD/tok_bench.jsonl}
names=${*:-"bert-wordpiece bert-cased xlmr-unigram llama3_1 qwen3 gemma3"}

make -s BUILD="$BUILD" "$BUILD/bench/tok_speed" >&2
: >"$OUTF"
for name in $names; do
    for impl in $IMPLS; do
        case $impl in
            xling) cmd="$BUILD/bench/tok_speed $FIX/$name $DATA" ;;
            js) cmd="node bench/tok_speed_js.mjs $FIX/$name $DATA" ;;
            spm)
                case $name in xlmr-unigram|gemma3) ;; *) continue ;; esac
                cmd="/usr/bin/python3 bench/tok_speed_spm.py $FIX/$name $DATA" ;;
            *) echo "tok_bench: unknown implementation $impl" >&2; exit 2 ;;
        esac
        r=0
        while [ "$r" -lt "$RUNS" ]; do
            line=$($cmd) || { echo "tok_bench: failed: $cmd" >&2; exit 1; }
            echo "{\"tokenizer\": \"$name\", \"run\": $r, \"result\": $line}" >>"$OUTF"
            echo "$name $impl run $r: $line" >&2
            r=$((r + 1))
        done
    done
done

python3 - "$OUTF" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault((r["tokenizer"], r["result"]["impl"]), []).append(r["result"])
med = lambda rs, k: statistics.median(x[k] for x in rs)
print()
print("| tokenizer | implementation | tokens | load ms | encode s | tokens/s | MB/s | xling speed-up |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for tok in dict.fromkeys(t for t, _ in by):
    base = by.get((tok, "xling"))
    for (t, impl), rs in by.items():
        if t != tok:
            continue
        tps = med(rs, "tokens_per_s")
        ratio = "" if impl == "xling" or not base else "%.1fx" % (med(base, "tokens_per_s") / tps)
        toks = rs[0]["tokens"]
        if base and impl != "xling" and toks != base[0]["tokens"]:
            toks = "%d (xling %+d)" % (toks, base[0]["tokens"] - toks)
        print("| %s | %s | %s | %.0f | %.3f | %.0f | %.2f | %s |" % (
            tok, impl, toks, med(rs, "load_ms"), med(rs, "encode_s"), tps, med(rs, "mb_per_s"), ratio))
print("\nmedians of %d run(s) each, one thread, no special tokens, %d sentences (%.1f MB); "
      "sentencepiece's load time leaves out building its model from tokenizer.json (convert_ms)" % (
    len(next(iter(by.values()))), rows[0]["result"]["sentences"], rows[0]["result"]["bytes"] / 1e6))
PY
