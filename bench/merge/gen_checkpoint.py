"""Writes a random-weight BF16 checkpoint at the Llama-3.1-8B shape (32 layers, hidden
4096, 32 / 8 heads, ffn 14336, vocab 128256, untied lm_head left out as in the decoder
memory benchmark: 16.1 GB in 4 shards + index) into OUT, with a seed, for the merge
benchmark. --layers N writes a shallower model of the same widths (when the disk cannot
hold three full ones). Values: windows of a pool of N(0, 0.02) BF16 values picked by a
seeded generator (writing 8 G fresh normals would take minutes of CPU for nothing);
norm weights 1 + small noise. Needs numpy (Debian's /usr/bin/python3).

    /usr/bin/python3 bench/merge/gen_checkpoint.py OUT SEED [--layers N]
"""
import json, os, struct, sys
import numpy as np

out, seed = sys.argv[1], int(sys.argv[2])
L = int(sys.argv[sys.argv.index("--layers") + 1]) if "--layers" in sys.argv else 32
H, NH, NKV, FF, V = 4096, 32, 8, 14336, 128256
HD = H // NH
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(seed)
pool = ((rng.standard_normal(1 << 26, dtype=np.float32) * 0.02).view(np.uint32) >> 16).astype(np.uint16)

tensors = [("model.embed_tokens.weight", (V, H))]
for l in range(L):
    p = "model.layers.%d." % l
    tensors += [(p + "input_layernorm.weight", (H,)), (p + "self_attn.q_proj.weight", (NH * HD, H)),
                (p + "self_attn.k_proj.weight", (NKV * HD, H)), (p + "self_attn.v_proj.weight", (NKV * HD, H)),
                (p + "self_attn.o_proj.weight", (H, NH * HD)), (p + "post_attention_layernorm.weight", (H,)),
                (p + "mlp.gate_proj.weight", (FF, H)), (p + "mlp.up_proj.weight", (FF, H)),
                (p + "mlp.down_proj.weight", (H, FF))]
tensors.append(("model.norm.weight", (H,)))

n_shards = 4
total = sum(int(np.prod(s)) * 2 for _, s in tensors)
shards, cur, size = [], [], 0
for t in tensors:
    cur.append(t)
    size += int(np.prod(t[1])) * 2
    if size >= total / n_shards and len(shards) < n_shards - 1:
        shards.append(cur)
        cur, size = [], 0
shards.append(cur)

weight_map = {}
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
        f.write(struct.pack("<Q", len(hb)) + hb)
        for tname, shape in group:
            n = int(np.prod(shape))
            if len(shape) == 1:
                norm = (1 + rng.standard_normal(n, dtype=np.float32) * 0.01).view(np.uint32) >> 16
                f.write(norm.astype(np.uint16).tobytes())
                continue
            while n > 0:
                start = int(rng.integers(0, len(pool) // 2))
                k = min(n, len(pool) - start)
                f.write(pool[start:start + k].tobytes())
                n -= k
    print("  %s: %d tensors, %.2f GB" % (name, len(group), (offset + 8 + len(hb)) / 1e9), flush=True)

json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
          open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=2)
json.dump({"architectures": ["LlamaModel"], "model_type": "llama", "hidden_size": H, "intermediate_size": FF,
           "num_hidden_layers": L, "num_attention_heads": NH, "num_key_value_heads": NKV, "head_dim": HD,
           "vocab_size": V, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
           "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                            "original_max_position_embeddings": 8192},
           "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16"},
          open(os.path.join(out, "config.json"), "w"), indent=2)
print("  total %.2f GB of weights" % (total / 1e9))
