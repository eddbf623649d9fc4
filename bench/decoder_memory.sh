#!/bin/sh
# Peak memory of a large decoder: writes a random-weight BF16 checkpoint at the
# Llama-3.1-8B shape (32 layers, hidden 4096, 32 / 8 heads, ffn 14336, vocab 128256:
# 16.1 GB in 4 shards + index, LlamaBidirectionalModel, mean pooling, no tokenizer),
# then runs `xling bench-embed` on it under /usr/bin/time -v, BF16 and --quantize q8,
# and prints peak RSS against the weight bytes (the requirement: peak <= weights + 2 GiB).
#
#   sh bench/decoder_memory.sh [-o DIR] [-x XLING] [-s SHAPES] [--keep]
#     -o DIR     where to write the checkpoint (default /work/big/llama8b; ~16.1 GB free
#                space needed; deleted at the end unless --keep)
#     -x XLING   the xling binary (default build/xling)
#     -s SHAPES  batch x seq cases (default "1x128 4x128")
#     --keep     keep the checkpoint (a second run reuses it)
#
# Timed runs take /tmp/xling-bench.lock (flock) so they never overlap other benchmarks
# on a shared machine. Needs /usr/bin/python3 with numpy and GNU time (/usr/bin/time).
set -eu
OUT=/work/big/llama8b
XLING=build/xling
SHAPES="1x128 4x128"
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    -o) OUT=$2; shift 2 ;;
    -x) XLING=$2; shift 2 ;;
    -s) SHAPES=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [-o DIR] [-x XLING] [-s SHAPES] [--keep]" >&2; exit 2 ;;
    esac
done
[ -x "$XLING" ] || { echo "$0: $XLING is not an executable (build first: make)" >&2; exit 2; }

if [ ! -f "$OUT/model.safetensors.index.json" ]; then
    mkdir -p "$OUT"
    echo "writing the checkpoint into $OUT ..."
    /usr/bin/python3 - "$OUT" <<'EOF'
# Random BF16 weights: one pool of N(0, 0.02) values, each tensor a different window of
# it (speed of the kernels does not depend on the values; writing 8 G fresh normals
# would take minutes of CPU for nothing). Norm weights are 1.
import json, os, struct, sys
import numpy as np

out = sys.argv[1]
L, H, NH, NKV, FF, V = 32, 4096, 32, 8, 14336, 128256
HD = H // NH
rng = np.random.default_rng(8)
pool = (rng.standard_normal(1 << 26, dtype=np.float32) * 0.02).view(np.uint32)
pool = (pool >> 16).astype(np.uint16)  # truncated to BF16
one = np.full(H, 0x3F80, dtype=np.uint16)  # 1.0 in BF16

tensors = [("embed_tokens.weight", (V, H))]
for l in range(L):
    p = "layers.%d." % l
    tensors += [
        (p + "input_layernorm.weight", (H,)),
        (p + "self_attn.q_proj.weight", (NH * HD, H)),
        (p + "self_attn.k_proj.weight", (NKV * HD, H)),
        (p + "self_attn.v_proj.weight", (NKV * HD, H)),
        (p + "self_attn.o_proj.weight", (H, NH * HD)),
        (p + "post_attention_layernorm.weight", (H,)),
        (p + "mlp.gate_proj.weight", (FF, H)),
        (p + "mlp.up_proj.weight", (FF, H)),
        (p + "mlp.down_proj.weight", (H, FF)),
    ]
tensors.append(("norm.weight", (H,)))

n_shards = 4
total = sum(int(np.prod(s)) * 2 for _, s in tensors)
per_shard = total / n_shards
shards, cur, size = [], [], 0
for t in tensors:
    cur.append(t)
    size += int(np.prod(t[1])) * 2
    if size >= per_shard and len(shards) < n_shards - 1:
        shards.append(cur)
        cur, size = [], 0
shards.append(cur)

weight_map, off_pool = {}, 0
for si, group in enumerate(shards):
    name = "model-%05d-of-%05d.safetensors" % (si + 1, len(shards))
    header, offset = {}, 0
    for tname, shape in group:
        n = int(np.prod(shape)) * 2
        header[tname] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
        weight_map[tname] = name
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for tname, shape in group:
            n = int(np.prod(shape))
            if len(shape) == 1:
                f.write(one[:n].tobytes())
                continue
            while n > 0:
                off_pool = (off_pool * 1103515245 + 12345) % (len(pool) // 2)
                k = min(n, len(pool) - off_pool)
                f.write(pool[off_pool:off_pool + k].tobytes())
                n -= k
    print("  %s: %d tensors, %.2f GB" % (name, len(group), (offset + 8 + len(hb)) / 1e9), flush=True)

json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
          open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=1)
json.dump({
    "architectures": ["LlamaBidirectionalModel"], "model_type": "llama",
    "hidden_size": H, "intermediate_size": FF, "num_hidden_layers": L,
    "num_attention_heads": NH, "num_key_value_heads": NKV, "head_dim": HD,
    "vocab_size": V, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "_comment": "xling memory benchmark: random weights at the Llama-3.1-8B shape",
}, open(os.path.join(out, "config.json"), "w"), indent=1)
json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
           {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}],
          open(os.path.join(out, "modules.json"), "w"), indent=1)
os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
json.dump({"word_embedding_dimension": H, "pooling_mode_mean_tokens": True},
          open(os.path.join(out, "1_Pooling", "config.json"), "w"), indent=1)
json.dump({"max_seq_length": 8192}, open(os.path.join(out, "sentence_bert_config.json"), "w"))
print("  total %.2f GB of weights" % (total / 1e9))
EOF
fi

WEIGHTS=$(du -cb "$OUT"/model-*.safetensors | tail -n 1 | cut -f1)
echo "checkpoint: $WEIGHTS bytes ($(awk "BEGIN{printf \"%.2f\", $WEIGHTS/1073741824}") GiB)"
LIMIT=$((WEIGHTS + 2147483648))

for mode in bf16 q8; do
    for s in $SHAPES; do
        b=${s%x*}; t=${s#*x}
        q=""; [ "$mode" = q8 ] && q="--quantize q8"
        log=$(mktemp)
        # shellcheck disable=SC2086
        flock /tmp/xling-bench.lock /usr/bin/time -v env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
            "$XLING" bench-embed -m "$OUT" --batch "$b" --seq "$t" --reps 2 --threads 2 --json $q \
            >"$log.out" 2>"$log"
        rss_kb=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
        rss=$((rss_kb * 1024))
        ok=yes; [ "$rss" -le "$LIMIT" ] || ok=NO
        printf '%-4s %sx%s  peak RSS %.2f GiB (weights + %.2f GiB, within +2 GiB: %s)  %s\n' "$mode" "$b" "$t" \
            "$(awk "BEGIN{print $rss/1073741824}")" "$(awk "BEGIN{print ($rss-$WEIGHTS)/1073741824}")" "$ok" \
            "$(cut -c1-160 "$log.out")"
        rm -f "$log" "$log.out"
    done
done

if [ "$KEEP" = 0 ]; then
    rm -rf "$OUT"
    echo "removed $OUT"
fi
