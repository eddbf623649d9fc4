#!/usr/bin/python3
"""Tokenizer speed of sentencepiece (Debian's python3-sentencepiece, C++ inside) on the
same Tatoeba sentences as bench/tok_speed.c: one thread, no special tokens, one JSON line.

    /usr/bin/python3 bench/tok_speed_spm.py TOKENIZER_DIR_OR_JSON [TATOEBA_DIR]

sentencepiece needs a ModelProto, which Hugging Face folders do not ship; it is built here
from tokenizer.json with sentencepiece_model_pb2 (python3-protobuf):
  - Unigram (XLM-R): the pieces and scores of model.vocab in the same order (so the ids are
    the Hugging Face ids), <unk> at model.unk_id, <s> </s> <pad> as control pieces, the
    other added tokens as user-defined pieces; normalizer_spec takes the base64
    precompiled_charsmap of the Precompiled normalizer, with add_dummy_prefix (Metaspace
    prepend_scheme "always"), remove_extra_whitespaces (the Replace(" {2,}", " ")) and
    escape_whitespaces.
  - BPE with byte_fallback (Gemma 3, a sentencepiece BPE model converted to tokenizer.json):
    sentencepiece merges the pair whose merged piece has the highest score, so each piece
    gets score -(rank of the merge that makes it), single characters and the <0xXX> byte
    pieces 0; no normalization besides " " -> "▁" (escape_whitespaces, no dummy prefix,
    no whitespace folding); added tokens become user-defined pieces.
Byte-level BPE (Llama 3, Qwen3) and WordPiece have no sentencepiece equivalent: refused.
The "tokens" total is printed so that a segmentation that differs from xling shows up.
"""
import base64
import json
import os
import sys
import time

try:
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
except ImportError as e:
    sys.exit(f"tok_speed_spm: {e}: run bench/setup_tok_bench.sh (python3-sentencepiece, python3-protobuf)")


def read_sentences(d):
    out, nbytes = [], 0
    for name in sorted(n for n in os.listdir(d) if n.startswith("tatoeba.")):
        with open(os.path.join(d, name), "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        for line in text.split("\n"):
            if line.endswith("\r"):
                line = line[:-1]
            if line:
                out.append(line)
                nbytes += len(line.encode("utf-8"))
    return out, nbytes


def piece_type(content, special_ids, pid, unk_id):
    if pid == unk_id:
        return pb.ModelProto.SentencePiece.UNKNOWN
    if pid in special_ids:
        return pb.ModelProto.SentencePiece.CONTROL if special_ids[pid] else pb.ModelProto.SentencePiece.USER_DEFINED
    return pb.ModelProto.SentencePiece.NORMAL


def unigram_proto(tj):
    model = tj["model"]
    m = pb.ModelProto()
    m.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    m.trainer_spec.vocab_size = len(model["vocab"])
    unk_id = model.get("unk_id", 0)
    added = {a["id"]: a["special"] and a["content"] in ("<s>", "</s>", "<pad>") for a in tj.get("added_tokens", [])}
    ids = {a["content"]: a["id"] for a in tj.get("added_tokens", [])}
    m.trainer_spec.unk_id = unk_id
    m.trainer_spec.bos_id = ids.get("<s>", -1)
    m.trainer_spec.eos_id = ids.get("</s>", -1)
    m.trainer_spec.pad_id = ids.get("<pad>", -1)
    for pid, (piece, score) in enumerate(model["vocab"]):
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, score, piece_type(piece, added, pid, unk_id)
    norms = tj["normalizer"]["normalizers"] if tj["normalizer"]["type"] == "Sequence" else [tj["normalizer"]]
    charsmap = [n for n in norms if n["type"] == "Precompiled"]
    m.normalizer_spec.name = "user_defined"
    if charsmap:
        m.normalizer_spec.precompiled_charsmap = base64.b64decode(charsmap[0]["precompiled_charsmap"])
    m.normalizer_spec.add_dummy_prefix = True
    m.normalizer_spec.remove_extra_whitespaces = True
    m.normalizer_spec.escape_whitespaces = True
    return m


def bpe_proto(tj):
    model = tj["model"]
    if not model.get("byte_fallback") or tj["pre_tokenizer"] is not None and "ByteLevel" in json.dumps(tj["pre_tokenizer"]):
        sys.exit("tok_speed_spm: only sentencepiece-style BPE (byte_fallback, no ByteLevel) has a sentencepiece model")
    vocab = model["vocab"]
    rank = {}
    for r, mg in enumerate(model["merges"]):
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        rank.setdefault(a + b, r)
    added = {a["id"]: a for a in tj.get("added_tokens", [])}
    m = pb.ModelProto()
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(vocab)
    m.trainer_spec.byte_fallback = True
    ids = {a["content"]: a["id"] for a in added.values()}
    m.trainer_spec.unk_id = vocab.get(model.get("unk_token") or "<unk>", 0)
    m.trainer_spec.bos_id = ids.get("<bos>", -1)
    m.trainer_spec.eos_id = ids.get("<eos>", -1)
    m.trainer_spec.pad_id = ids.get("<pad>", -1)
    T = pb.ModelProto.SentencePiece
    for piece, pid in sorted(vocab.items(), key=lambda kv: kv[1]):
        p = m.pieces.add()
        p.piece = piece
        p.score = -float(rank[piece]) if piece in rank else 0.0
        if pid == m.trainer_spec.unk_id:
            p.type = T.UNKNOWN
        elif pid in added:
            p.type = T.CONTROL if added[pid]["special"] else T.USER_DEFINED
        elif len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            p.type = T.BYTE
        else:
            p.type = T.NORMAL
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = False
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    return m


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    path = args[0]
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    d = args[1] if len(args) > 1 else "../shared/data/tatoeba/v1"
    sentences, nbytes = read_sentences(d)

    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    kind = tj["model"]["type"]
    proto = unigram_proto(tj) if kind == "Unigram" else bpe_proto(tj) if kind == "BPE" else None
    if proto is None:
        sys.exit(f"tok_speed_spm: no sentencepiece model for a {kind} tokenizer")
    convert_ms = (time.perf_counter() - t0) * 1e3
    blob = proto.SerializeToString()
    t0 = time.perf_counter()
    sp = spm.SentencePieceProcessor(model_proto=blob)
    load_ms = (time.perf_counter() - t0) * 1e3

    t0 = time.perf_counter()
    tokens = 0
    for s in sentences:
        tokens += len(sp.encode(s))
    enc_s = time.perf_counter() - t0
    print(json.dumps({
        "impl": "sentencepiece", "type": kind, "sentences": len(sentences), "bytes": nbytes, "tokens": tokens,
        "special": False, "load_ms": round(load_ms, 1), "convert_ms": round(convert_ms, 1),
        "encode_s": round(enc_s, 4), "tokens_per_s": round(tokens / enc_s), "mb_per_s": round(nbytes / enc_s / 1e6, 3),
    }))


if __name__ == "__main__":
    main()
