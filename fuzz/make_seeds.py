#!/usr/bin/env python3
"""Seed corpora (and the small model folders fuzz_config loads) for the fuzz targets
other than the tokenizer one, made from the shared fixtures plus hand-made edge cases.

    python3 fuzz/make_seeds.py FIXTURES OUT

writes OUT/seeds-safetensors, OUT/seeds-config, OUT/seeds-jsonl and OUT/config-models.
The model folders are the fixture checkpoints with every vocabulary-sized tensor cut to
its first 64 rows, so that loading one per fuzz input costs little; config seeds say
vocab_size 64 to match.
"""
import json
import os
import struct
import sys

FIX, OUT = sys.argv[1], sys.argv[2]
MODELS = os.path.join(FIX, "models")
SMALL_VOCAB = 64
# Order matters: fuzz_config picks the folder by its first input byte modulo this count.
CONFIG_MODELS = ["bert-tiny", "xlmr-tiny", "llama-bi-tiny", "mistral-tiny", "qwen2-tiny", "qwen3-tiny",
                 "gemma3-tiny", "qwen3-reranker-seqcls-tiny"]
# fuzz_config's sections, in input order (see fuzz/fuzz_config.c).
SECTIONS = ["config.json", "modules.json", "1_Pooling/config.json", "2_Dense/config.json",
            "3_Dense/config.json", "sentence_bert_config.json", "config_sentence_transformers.json"]
SEP = b"\n#-#\n"
DTSIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I8": 1, "U8": 1, "BOOL": 1}


def mkdir(p):
    os.makedirs(p, exist_ok=True)
    return p


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def st_read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def st_build(header, blobs):
    """header: {name: {dtype, shape}} (+ __metadata__); blobs: {name: bytes}."""
    h, data, off = {}, b"", 0
    for k, v in header.items():
        if k == "__metadata__":
            h[k] = v
            continue
        b = blobs[k]
        h[k] = {"dtype": v["dtype"], "shape": v["shape"], "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    text = json.dumps(h, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def st_raw(text, data=b"", hlen=None):
    if isinstance(text, str):
        text = text.encode()
    return struct.pack("<Q", len(text) if hlen is None else hlen) + text + data


# ------------------------------------------------------------------ safetensors
def safetensors_seeds(dst):
    n = 0
    files = []
    for m in sorted(os.listdir(MODELS)):
        for sub in ["", "2_Dense", "3_Dense"]:
            p = os.path.join(MODELS, m, sub, "model.safetensors")
            if os.path.exists(p):
                files.append((m + ("-" + sub if sub else ""), p))
    for name, p in files:
        header, data = st_read(p)
        text = json.dumps(header, separators=(",", ":")).encode()
        # The real header with its data cut off (rejected: offsets beyond the data).
        write(os.path.join(dst, "fixture-%s-truncated" % name), st_raw(text))
        # A valid file with the same names and dtypes, every dimension cut to at most 2.
        small, blobs = {}, {}
        for k, v in header.items():
            if k == "__metadata__":
                small[k] = v
                continue
            shape = [min(d, 2) for d in v["shape"]]
            cnt = 1
            for d in shape:
                cnt *= d
            small[k] = {"dtype": v["dtype"], "shape": shape}
            blobs[k] = bytes((i * 37 + 11) & 0xFF for i in range(cnt * DTSIZE[v["dtype"]]))
        write(os.path.join(dst, "fixture-%s-small" % name), st_build(small, blobs))
        n += 2
    edge = {
        "empty": b"",
        "short": b"\x02\x00\x00",
        "zero-header": st_raw(b""),
        "huge-header-len": st_raw(b"{}", hlen=1 << 40),
        "header-past-end": st_raw(b"{}", hlen=100),
        "not-object": st_raw(b"[]"),
        "empty-object": st_raw(b"{}"),
        "metadata-only": st_raw(b'{"__metadata__":{"format":"pt"}}'),
        "metadata-not-string": st_raw(b'{"__metadata__":{"format":1}}'),
        "scalar": st_raw(b'{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', b"\0\0\x80\x3f"),
        "zero-size": st_raw(b'{"a":{"dtype":"F16","shape":[0,3],"data_offsets":[0,0]},'
                            b'"b":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}', b"\x05"),
        "overlap": st_raw(b'{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
                          b'"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', b"abc"),
        "gap": st_raw(b'{"a":{"dtype":"BOOL","shape":[1],"data_offsets":[2,3]}}', b"xyz"),
        "duplicate": st_raw(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                            b'"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"ab"),
        "eight-dims": st_raw(b'{"a":{"dtype":"F64","shape":[1,1,1,1,1,1,1,1],"data_offsets":[0,8]}}', b"\0" * 8),
        "nine-dims": st_raw(b'{"a":{"dtype":"F64","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,8]}}', b"\0" * 8),
        "overflow-shape": st_raw(b'{"a":{"dtype":"I64","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}'),
        "overflow-bytes": st_raw(b'{"a":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,0]}}'),
        "negative-offset": st_raw(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', b"a"),
        "float-offset": st_raw(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0.0,1]}}', b"a"),
        "reversed": st_raw(b'{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}', b"a"),
        "big-offset": st_raw(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]}}', b"a"),
        "nul-name": st_raw(b'{"a\\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"a"),
        "control-name": st_raw(b'{"a\\nb":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"a"),
        "empty-name": st_raw(b'{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"a"),
        "unicode-name": st_raw('{"\u00e9\u4e2d.w":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}'.encode(), b"\x80\x3f"),
        "f8-dtype": st_raw(b'{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', b"a"),
        "bad-dtype": st_raw(b'{"a":{"dtype":"\\u0001\\u00ff","shape":[1],"data_offsets":[0,1]}}', b"a"),
        "entry-not-object": st_raw(b'{"a":[1,2]}'),
        "missing-fields": st_raw(b'{"a":{}}'),
        "prefix-names": st_raw(b'{"bert.x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                               b'"model.x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},'
                               b'"x":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}', b"abc"),
        "trailing-garbage": st_raw(b'{} x'),
        "nested-deep": st_raw(b'{"__metadata__":' + b"[" * 200 + b"]" * 200 + b"}"),
    }
    for k, v in edge.items():
        write(os.path.join(dst, "edge-" + k), v)
    return n + len(edge)


# ------------------------------------------------------------------ config + ST files
def small_checkpoint(src_dir, dst_dir, vocab):
    header, data = st_read(os.path.join(src_dir, "model.safetensors"))
    small, blobs = {}, {}
    for k, v in header.items():
        if k == "__metadata__":
            small[k] = v
            continue
        b, e = v["data_offsets"]
        blob = data[b:e]
        shape = list(v["shape"])
        if shape and shape[0] == vocab:
            row = len(blob) // vocab
            shape[0] = SMALL_VOCAB
            blob = blob[:row * SMALL_VOCAB]
        small[k] = {"dtype": v["dtype"], "shape": shape}
        blobs[k] = blob
    write(os.path.join(dst_dir, "model.safetensors"), st_build(small, blobs))


def config_seeds(dst, models_dst):
    n = 0
    for i, m in enumerate(CONFIG_MODELS):
        src = os.path.join(MODELS, m)
        cfg = json.load(open(os.path.join(src, "config.json")))
        vocab = cfg["vocab_size"]
        d = mkdir(os.path.join(models_dst, m))
        small_checkpoint(src, d, vocab)
        for sub in ["2_Dense", "3_Dense"]:
            p = os.path.join(src, sub, "model.safetensors")
            if os.path.exists(p):
                write(os.path.join(mkdir(os.path.join(d, sub)), "model.safetensors"), open(p, "rb").read())
        cfg["vocab_size"] = SMALL_VOCAB
        parts = [json.dumps(cfg, indent=1).encode()]
        for s in SECTIONS[1:]:
            p = os.path.join(src, s)
            parts.append(open(p, "rb").read() if os.path.exists(p) else None)
        # Sections after the last present one are left out (absent files); absent ones
        # before it become empty sections, which the target also treats as absent.
        while parts and parts[-1] is None:
            parts.pop()
        body = SEP.join(p if p is not None else b"" for p in parts)
        write(os.path.join(dst, "model-%s" % m), bytes([i]) + body)
        write(os.path.join(dst, "model-%s-plain" % m), bytes([i]) + parts[0])
        n += 2
    bert = json.load(open(os.path.join(MODELS, "bert-tiny", "config.json")))
    bert["vocab_size"] = SMALL_VOCAB
    edits = {
        "huge-hidden": {"hidden_size": 2147483647},
        "negative-layers": {"num_hidden_layers": -1},
        "zero-heads": {"num_attention_heads": 0},
        "odd-heads": {"num_attention_heads": 5},
        "huge-positions": {"max_position_embeddings": 4611686018427387904},
        "float-hidden": {"hidden_size": 32.0},
        "float-huge-layers": {"num_hidden_layers": 1e300},
        "negative-eps": {"layer_norm_eps": -1.0},
        "string-eps": {"layer_norm_eps": "1e-12"},
        "no-arch": {"architectures": None},
        "unknown-arch": {"architectures": ["FooModel"], "model_type": "foo"},
        "arch-not-list": {"architectures": "BertModel"},
    }
    for k, e in edits.items():
        c = dict(bert)
        c.update(e)
        write(os.path.join(dst, "edge-" + k), b"\0" + json.dumps(c).encode())
        n += 1
    base = json.dumps(bert).encode()
    odd = {
        "modules-empty": [b"[]"],
        "modules-object": [b"{}"],
        "modules-escape": [b'[{"idx":0,"name":"0","path":"../x","type":"sentence_transformers.models.Transformer"}]'],
        "pooling-two-modes": [b'[{"path":"","type":"sentence_transformers.models.Transformer"},'
                              b'{"path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]',
                              b'{"word_embedding_dimension":32,"pooling_mode_cls_token":true,"pooling_mode_max_tokens":true}'],
        "dense-mismatch": [b'[{"path":"","type":"sentence_transformers.models.Transformer"},'
                           b'{"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},'
                           b'{"path":"2_Dense","type":"sentence_transformers.models.Dense"}]',
                           b'{"word_embedding_dimension":32,"pooling_mode":"mean"}',
                           b'{"in_features":33,"out_features":16,"bias":true,"activation_function":"torch.nn.modules.activation.ReLU"}'],
        "prompts-bad-default": [b"", b"", b"", b"", b"", b'{"prompts":{"query":"q: "},"default_prompt_name":"doc"}'],
        "sbert-negative": [b"", b"", b"", b"", b'{"max_seq_length":-5}'],
    }
    for k, parts in odd.items():
        write(os.path.join(dst, "edge-" + k), b"\0" + SEP.join([base] + parts))
        n += 1
    return n


# ------------------------------------------------------------------ JSONL lines
def jsonl_seeds(dst):
    n = 0
    lines = [json.loads(l) for l in open(os.path.join(FIX, "tokenizers", "corpus.jsonl"), encoding="utf-8")]
    for i, c in enumerate(lines):
        if not (c["src"].startswith("edge:") or i % 25 == 0):
            continue
        text = json.dumps({"text": c["text"]}, ensure_ascii=(i % 2 == 0)).encode("utf-8", "surrogatepass")
        # First byte: bit 0 = JSONL (1) or plain text (0); the rest picks the chunk size.
        write(os.path.join(dst, "corpus-%04d" % i), b"\x01" + text + b"\n")
        write(os.path.join(dst, "corpus-text-%04d" % i), b"\x00" + c["text"].encode("utf-8", "surrogatepass") + b"\n")
        n += 2
    edge = {
        "ids": b'{"input_ids":[0,1,2147483647]}\n',
        "ids-negative": b'{"input_ids":[-1]}\n',
        "ids-big": b'{"input_ids":[2147483648]}\n',
        "ids-float": b'{"input_ids":[1.5]}\n',
        "ids-empty": b'{"input_ids":[]}\n',
        "both": b'{"text":"a","input_ids":[1]}\n',
        "neither": b'{"id":3}\n',
        "text-null": b'{"text":null}\n',
        "text-number": b'{"text":5}\n',
        "not-object": b'["text"]\n',
        "nul": b'{"text":"a\\u0000b"}\n',
        "surrogate-pair": b'{"text":"\\ud83d\\ude00"}\n',
        "lone-surrogate": b'{"text":"\\ud800"}\n',
        "invalid-utf8": b'{"text":"\xff\xfe\xc3"}\n',
        "overlong": b'{"text":"\xc0\xaf \xe0\x80\xaf"}\n',
        "bom": b'\xef\xbb\xbf{"text":"bom"}\n',
        "crlf": b'{"text":"a"}\r\n{"text":"b"}\r\n',
        "blank-lines": b'{"text":"a"}\n\n{"text":"b"}\n\n',
        "no-final-newline": b'{"text":"a"}\n{"text":"b"}',
        "many": b"".join(b'{"text":"%d"}\n' % k for k in range(9)),
        "bad-third": b'{"text":"a"}\n{"text":"b"}\n{"text":\n{"text":"d"}\n',
        "text-pair": b'{"text":"a","text_pair":"b","id":"x"}\n',
        "nested": b'{"text":"a","meta":' + b"[" * 100 + b"]" * 100 + b"}\n",
        "cr-only": b'{"text":"a"}\r{"text":"b"}\r',
        "nul-byte-line": b'{"text":"a"}\x00\n',
    }
    for k, v in edge.items():
        write(os.path.join(dst, "edge-" + k), b"\x01" + v)
        write(os.path.join(dst, "edge-text-" + k), b"\x02" + v)
        n += 2
    return n


if __name__ == "__main__":
    counts = {
        "safetensors": safetensors_seeds(mkdir(os.path.join(OUT, "seeds-safetensors"))),
        "config": config_seeds(mkdir(os.path.join(OUT, "seeds-config")), mkdir(os.path.join(OUT, "config-models"))),
        "jsonl": jsonl_seeds(mkdir(os.path.join(OUT, "seeds-jsonl"))),
    }
    print("make_seeds: " + ", ".join("%d %s seeds" % (v, k) for k, v in counts.items()))
