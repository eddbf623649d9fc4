"""End-to-end tests of `xling vocab transfer` / `xling vocab extend` with the fixture models
(bert-tiny: BERT WordPiece, F32; xlmr-tiny: XLM-R SentencePiece Unigram, F16; from the
shared fixtures when present: qwen3-tiny, byte-level BPE, F16, tied embeddings, and an
untied copy of it made here). The copy matching is recomputed here independently from
the tokenizer.json files (WordPiece "##x" = SentencePiece "x", WordPiece "x" = "▁x",
byte-level "Ġx" = "▁x"), and every copied row must equal its source row bit for bit;
outputs must load and embed; the XLM-R position shift must give the same vectors as the
source model when the tokenization is the same; extend's tokens tokenise as one token
with FVT rows; alignment must put "Haus" next to "house"; and the error paths (OUT
exists, bad or missing --parallel, empty token file, unsupported tokenizer, full disk)
are one-line errors that leave nothing behind. Python standard library only.
Prints "test_vocab_cli: N passed, N failed, N skipped" last."""
import functools, json, math, os, shutil, struct, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import FIX, SHARED_FIX, check, skip, summary, one_line_error, read_safetensors, file_size_limit  # noqa: E402

run = functools.partial(clitest.run, timeout=900)  # vocab transfer of a real-size tokenizer

BERT, XLMR = os.path.join(FIX, "bert-tiny"), os.path.join(FIX, "xlmr-tiny")
QWEN = os.path.join(SHARED_FIX, "qwen3-tiny")
SP = "\u2581"


def read_st(path):
    """{name: (dtype, shape, bytes)} of a safetensors file."""
    return read_safetensors(path)[0]


def row_bytes(t, r):
    dt, shape, raw = t
    es = {"F32": 4, "F16": 2, "BF16": 2}[dt]
    cols = shape[1] if len(shape) > 1 else 1
    return raw[r * cols * es:(r + 1) * cols * es]


def row_f(t, r):
    dt, shape, raw = t
    b = row_bytes(t, r)
    if dt == "F32":
        return list(struct.unpack("<%df" % (len(b) // 4), b))
    if dt == "F16":
        return list(struct.unpack("<%de" % (len(b) // 2), b))
    return [struct.unpack("<f", b"\0\0" + b[i:i + 2])[0] for i in range(0, len(b), 2)]


def tok_json(d):
    with open(os.path.realpath(os.path.join(d, "tokenizer.json")), encoding="utf-8") as f:
        return json.load(f)


def vocab_list(tj):
    """id -> piece of the model vocabulary; the set of added-token ids."""
    m = tj["model"]
    if m["type"] == "Unigram":
        v = {i: p for i, (p, s) in enumerate(m["vocab"])}
    else:
        v = {i: p for p, i in m["vocab"].items()}
    added = {a["id"] for a in tj.get("added_tokens", [])}
    return v, added


def byte_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


BYTES = byte_decoder()


def meaning(piece, kind):
    """(word-initial?, text bytes) of a piece in a convention."""
    if kind == "wp":
        if piece.startswith("##") and len(piece) > 2:
            return (0, piece[2:].encode())
        return (1, piece.encode())
    if kind == "sp":
        t = piece.replace(SP, " ").encode()
    else:
        try:
            t = bytes(BYTES[c] for c in piece)
        except KeyError:
            return (0, piece.encode())
    if t.startswith(b" "):
        return (1, t[1:])
    return (0, t)


def expected_copies(src_dir, src_kind, new_dir, new_kind):
    """new id -> source id for the model pieces that mean the same (specials excluded)."""
    sv, sadded = vocab_list(tok_json(src_dir))
    nv, nadded = vocab_list(tok_json(new_dir))
    keys = {}
    for i in sorted(sv):
        if i in sadded:
            continue
        keys.setdefault(meaning(sv[i], src_kind), i)
    return {i: keys[meaning(p, new_kind)] for i, p in nv.items() if i not in nadded and meaning(p, new_kind) in keys}


def embed(model, texts):
    rc, out, err = run(["embed", "-m", model] + texts)
    if rc != 0:
        print("    embed failed: %s" % err, file=sys.stderr)
        return None
    return [json.loads(l)["embedding"] for l in out.splitlines()]


def tokenize(model, text):
    rc, out, err = run(["tokenize", "-m", model, "--no-special", text])
    return json.loads(out)["ids"] if rc == 0 else None


def emb_name(t):
    return [k for k in t if k.endswith("word_embeddings.weight") or k.endswith("embed_tokens.weight")][0]


tmp = tempfile.mkdtemp(prefix="xl_vocab_cli_")
P = lambda name: os.path.join(tmp, name)
TEXTS = ["hello world", "The house is small.", "Das Haus ist klein."]

# --- help and usage
rc, out, err = run(["vocab", "--help"])
check(rc == 0 and "vocab transfer" in out and "vocab extend" in out, "vocab --help")
rc, out, err = run(["vocab", "transfer", "--help"])
check(rc == 0 and "--min-count" in out, "vocab transfer --help")
rc, out, err = run(["vocab", "transfer", "-m", XLMR, "--tokenizer", BERT, "-o", P("u"), "--method", "align"])
check(one_line_error(rc, err, 2, "--parallel"), "align without --parallel is a usage error")
rc, out, err = run(["vocab", "frobnicate", "-m", XLMR])
check(one_line_error(rc, err, 2, "frobnicate"), "unknown subcommand")
rc, out, err = run(["vocab", "extend", "-m", XLMR, "-o", P("u")])
check(one_line_error(rc, err, 2, "--add-tokens"), "extend without --add-tokens")

# --- XLM-R (F16) -> BERT WordPiece: copies, fvt, specials by role, position shift
rc, out, err = run(["vocab", "transfer", "-m", XLMR, "--tokenizer", BERT, "-o", P("x2b"), "--json"])
rep = json.loads(out) if rc == 0 else {}
check(rc == 0 and rep.get("tokens") == 30522 and rep.get("positions_shifted") is True and rep.get("old_pad") == 1
      and rep.get("new_pad") == 0, "xlmr -> bert: %s %s" % (out, err))
if rc == 0:
    cfg = json.load(open(P("x2b/config.json")))
    check(cfg["vocab_size"] == 30522 and cfg["pad_token_id"] == 0 and cfg["max_position_embeddings"] == 513
          and cfg["bos_token_id"] == 101 and cfg["eos_token_id"] == 102, "xlmr -> bert config: %r" % cfg)
    check(open(P("x2b/tokenizer.json"), "rb").read() == open(os.path.join(BERT, "tokenizer.json"), "rb").read(),
          "the new tokenizer.json is copied as it is")
    src, new = read_st(os.path.join(XLMR, "model.safetensors")), read_st(P("x2b/model.safetensors"))
    se, ne = src[emb_name(src)], new[emb_name(new)]
    check(ne[0] == "F16" and ne[1] == [30522, 16], "new embedding F16 [30522, 16]: %r" % (ne[:2],))
    exp = expected_copies(XLMR, "sp", BERT, "wp")
    specials = {0: 1, 100: 3, 101: 0, 102: 2, 103: 250001}  # [PAD] [UNK] [CLS] [SEP] [MASK] by role
    check(rep["copy"] == len(exp) + len(specials), "copy count %d = %d pieces + 5 specials" % (rep["copy"], len(exp)))
    check(rep["copy"] + rep["fvt"] + rep["fallback"] + rep["align"] == 30522, "coverage sums to the vocabulary")
    bad = [i for i, s in list(exp.items()) + list(specials.items()) if row_bytes(ne, i) != row_bytes(se, s)]
    check(not bad, "copied rows equal their source rows bit for bit (%d differ, e.g. %r)" % (len(bad), bad[:5]))
    # the position table moved by one row: new row k = old row k + 1
    sp, np_ = src["embeddings.position_embeddings.weight"], new["embeddings.position_embeddings.weight"]
    check(np_[1] == [513, 16] and all(row_bytes(np_, k) == row_bytes(sp, k + 1) for k in range(513)),
          "position rows shifted by one")
    v = embed(P("x2b"), TEXTS)
    check(v is not None and len(v) == 3 and all(abs(math.sqrt(sum(x * x for x in e)) - 1) < 1e-5 for e in v),
          "xlmr -> bert output loads and embeds")

# --- BERT (F32) -> XLM-R Unigram: no shift (absolute positions), pad_token_id follows
rc, out, err = run(["vocab", "transfer", "-m", BERT, "--tokenizer", os.path.join(XLMR, "tokenizer.json"),
                    "-o", P("b2x"), "--json"])
rep = json.loads(out) if rc == 0 else {}
check(rc == 0 and rep.get("tokens") == 250002 and rep.get("positions_shifted") is False, "bert -> xlmr: %s" % err)
if rc == 0:
    cfg = json.load(open(P("b2x/config.json")))
    check(cfg["vocab_size"] == 250002 and cfg["pad_token_id"] == 1 and cfg["max_position_embeddings"] == 512,
          "bert -> xlmr config")
    src, new = read_st(os.path.join(BERT, "model.safetensors")), read_st(P("b2x/model.safetensors"))
    se, ne = src[emb_name(src)], new[emb_name(new)]
    exp = expected_copies(BERT, "wp", XLMR, "sp")
    specials = {0: 101, 1: 0, 2: 102, 3: 100, 250001: 103}
    check(rep["copy"] == len(exp) + len(specials), "copy count %d = %d + 5" % (rep["copy"], len(exp)))
    bad = [i for i, s in list(exp.items()) + list(specials.items()) if row_bytes(ne, i) != row_bytes(se, s)]
    check(not bad, "bert -> xlmr copied rows exact (%d differ)" % len(bad))
    # other tensors unchanged, the Dense module copied
    same = all(new[k] == src[k] for k in src if k != emb_name(src))
    check(same and set(new) == set(src), "every other tensor copied as stored")
    check(open(P("b2x/2_Dense/model.safetensors"), "rb").read() == open(os.path.join(BERT, "2_Dense/model.safetensors"), "rb").read(),
          "Dense module copied")
    check(embed(P("b2x"), TEXTS) is not None, "bert -> xlmr output loads and embeds")

# --- the position shift keeps every token's position vector: an XLM-R tokenizer with
# <pad> and <s> swapped (pad id 0) tokenises every text to the same pieces, so the
# transferred model must give the source model's vectors
tj = tok_json(XLMR)
voc = tj["model"]["vocab"]
voc[0], voc[1] = voc[1], voc[0]
for a in tj["added_tokens"]:
    a["id"] = {0: 1, 1: 0}.get(a["id"], a["id"])
pp = tj["post_processor"]
for k, st in pp.get("special_tokens", {}).items():
    st["ids"] = [{0: 1, 1: 0}.get(i, i) for i in st["ids"]]
if pp.get("type") == "RobertaProcessing":
    pp["cls"][1] = 1
os.makedirs(P("swapped_tok"))
with open(P("swapped_tok/tokenizer.json"), "w", encoding="utf-8") as f:
    json.dump(tj, f, ensure_ascii=False)
shutil.copy(os.path.join(XLMR, "tokenizer_config.json"), P("swapped_tok/tokenizer_config.json"))
rc, out, err = run(["vocab", "transfer", "-m", XLMR, "--tokenizer", P("swapped_tok"), "-o", P("swap"), "--json"])
rep = json.loads(out) if rc == 0 else {}
check(rc == 0 and rep.get("copy") == 250002 and rep.get("new_pad") == 0 and rep.get("positions_shifted") is True,
      "swapped XLM-R tokenizer: every token copied: %s %s" % (out, err))
if rc == 0:
    texts = TEXTS + ["query: " + "a b c d e f g " * 12]
    a, b = embed(XLMR, texts), embed(P("swap"), texts)
    diff = max(abs(x - y) for u, w in zip(a, b) for x, y in zip(u, w)) if a and b else 1
    check(diff <= 1e-5, "same vectors after the position shift (max diff %g)" % diff)

# --- extend: new tokens are one token each, their rows the FVT means
with open(P("add.txt"), "w", encoding="utf-8") as f:
    f.write("kubernetes\n\nxlingword\nhello\nkubernetes\n")
rc, out, err = run(["vocab", "extend", "-m", BERT, "--add-tokens", P("add.txt"), "-o", P("ext"), "--json"])
rep = json.loads(out) if rc == 0 else {}
check(rc == 0 and rep.get("added") == 2 and rep.get("skipped") == 2 and rep.get("tokens") == 30524
      and rep.get("fvt") == 2, "extend bert-tiny: %s %s" % (out, err))
if rc == 0:
    check(tokenize(P("ext"), "we run kubernetes here") == [2057, 2448, 30522, 2182], "kubernetes is one new token")
    check(tokenize(P("ext"), "xlingword") == [30523], "xlingword is one new token")
    tj = tok_json(P("ext"))
    check(tj["added_tokens"][-1] == {"id": 30523, "content": "xlingword", "single_word": False, "lstrip": False,
                                     "rstrip": False, "normalized": True, "special": False}, "added token entry")
    src, new = read_st(os.path.join(BERT, "model.safetensors")), read_st(P("ext/model.safetensors"))
    se, ne = src[emb_name(src)], new[emb_name(new)]
    check(ne[1] == [30524, 32] and ne[2][:len(se[2])] == se[2], "old rows kept, two rows appended")
    # kubernetes = ku ##ber ##net ##es (13970 5677 7159 2229) in bert-tiny
    want = [sum(c) / 4 for c in zip(*[row_f(se, i) for i in (13970, 5677, 7159, 2229)])]
    got = row_f(ne, 30522)
    check(max(abs(x - y) for x, y in zip(want, got)) < 1e-6, "kubernetes row = mean of its four pieces")
    check(json.load(open(P("ext/config.json")))["vocab_size"] == 30524, "extend config vocab_size")
    check(embed(P("ext"), ["kubernetes"]) is not None, "extended model embeds")

# --- align: a tiny English-German corpus; "Haus" (new, no BERT piece of that text)
# must land next to "house"
pairs = ["the house\tdas Haus", "the book\tdas Buch", "a book\tein Buch", "a small house\tein kleines Haus",
         "the house is small\tdas Haus ist klein", "the book is small\tdas Buch ist klein"]
with open(P("pairs.tsv"), "w", encoding="utf-8") as f:
    f.write("\n".join(pairs * 3) + "\n")
rc, out, err = run(["vocab", "transfer", "-m", BERT, "--tokenizer", XLMR, "-o", P("al"), "--method", "align",
                    "--parallel", P("pairs.tsv"), "--json"])
rep = json.loads(out) if rc == 0 else {}
check(rc == 0 and rep.get("pairs") == 18 and rep.get("align", 0) > 0, "align: %s %s" % (out, err))
if rc == 0:
    src, new = read_st(os.path.join(BERT, "model.safetensors")), read_st(P("al/model.safetensors"))
    se, ne = src[emb_name(src)], new[emb_name(new)]
    haus = [i for i, p in vocab_list(tok_json(XLMR))[0].items() if p == SP + "Haus"][0]

    def cos(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    h = row_f(ne, haus)
    words = {w: tokenize(BERT, w)[0] for w in ["the", "house", "book", "a", "small", "is"]}
    sims = {w: cos(h, row_f(se, i)) for w, i in words.items()}
    check(max(sims, key=sims.get) == "house", "aligned row of Haus is closest to house: %r" % sims)
    # with --min-count above every count, nothing is aligned
    rc, out, err = run(["vocab", "transfer", "-m", BERT, "--tokenizer", XLMR, "-o", P("al2"), "--method", "align",
                        "--parallel", P("pairs.tsv"), "--min-count", "1000", "--json"])
    check(rc == 0 and json.loads(out).get("align") == 0, "--min-count 1000: no aligned row")

# --- byte-level BPE (shared qwen3-tiny): both directions, and an untied lm_head
if os.path.isdir(QWEN):
    rc, out, err = run(["vocab", "transfer", "-m", XLMR, "--tokenizer", QWEN, "-o", P("x2q"), "--json"])
    rep = json.loads(out) if rc == 0 else {}
    check(rc == 0 and rep.get("new_kind", "").startswith("byte-level"), "xlmr -> qwen3 tokenizer: %s" % err)
    if rc == 0:
        src, new = read_st(os.path.join(XLMR, "model.safetensors")), read_st(P("x2q/model.safetensors"))
        se, ne = src[emb_name(src)], new[emb_name(new)]
        exp = expected_copies(XLMR, "sp", QWEN, "bl")
        check(len(exp) > 10000 and all(row_bytes(ne, i) == row_bytes(se, s) for i, s in exp.items()),
              "byte-level copies (%d) exact" % len(exp))
        check(embed(P("x2q"), TEXTS) is not None, "xlmr with the Qwen tokenizer embeds")
    # an untied copy of qwen3-tiny: lm_head.weight = embed_tokens reversed in sign
    os.makedirs(P("qu"))
    for name in os.listdir(QWEN):
        s = os.path.join(QWEN, name)
        if os.path.isfile(s) and name not in ("model.safetensors", "config.json"):
            shutil.copy(os.path.realpath(s), P("qu/" + name))
        elif os.path.isdir(s):
            shutil.copytree(s, P("qu/" + name))
    cfg = json.load(open(os.path.join(QWEN, "config.json")))
    cfg["tie_word_embeddings"] = False
    json.dump(cfg, open(P("qu/config.json"), "w"))
    st = read_st(os.path.join(QWEN, "model.safetensors"))
    en = emb_name(st)
    dt, shape, raw = st[en]
    lm = bytes(b ^ 0x80 if i % 2 == 1 else b for i, b in enumerate(raw))  # F16 sign flip
    st["lm_head.weight"] = (dt, shape, lm)
    head, off, blobs = {}, 0, []
    for k, (d, s, b) in st.items():
        head[k] = {"dtype": d, "shape": s, "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(head).encode()
    hj += b" " * (-len(hj) % 8)
    with open(P("qu/model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
    rc, out, err = run(["vocab", "transfer", "-m", P("qu"), "--tokenizer", XLMR, "-o", P("q2x"), "--json"])
    rep = json.loads(out) if rc == 0 else {}
    check(rc == 0 and rep.get("tensors_changed") == 2, "untied qwen3 -> xlmr: two tensors: %s %s" % (out, err))
    if rc == 0:
        new = read_st(P("q2x/model.safetensors"))
        ne, nl = new[emb_name(new)], new["lm_head.weight"]
        exp = expected_copies(QWEN, "bl", XLMR, "sp")
        srcl = st["lm_head.weight"]
        check(nl[1] == [250002, shape[1]] and all(row_bytes(nl, i) == row_bytes(srcl, s) for i, s in exp.items()),
              "lm_head rows copied from the source lm_head")
        # fvt rows of lm_head are the same means as the embedding's, sign flipped
        j = [i for i in range(5, 250002) if i not in exp][100]
        check(max(abs(x + y) for x, y in zip(row_f(ne, j), row_f(nl, j))) < 2e-3, "lm_head fvt row mirrors the embedding's")
        check(embed(P("q2x"), TEXTS) is not None, "qwen3 with the XLM-R tokenizer embeds")
else:
    skip("qwen3-tiny (shared fixtures absent)")

# --- errors
rc, out, err = run(["vocab", "transfer", "-m", XLMR, "--tokenizer", BERT, "-o", P("x2b")])
check(one_line_error(rc, err, 1, "x2b", "exists"), "OUT exists without --force")
before = os.path.getmtime(P("x2b/model.safetensors"))
rc, out, err = run(["vocab", "transfer", "-m", XLMR, "--tokenizer", BERT, "-o", P("x2b"), "--force"])
check(rc == 0 and os.path.isfile(P("x2b/model.safetensors")), "--force replaces OUT")
rc, out, err = run(["vocab", "transfer", "-m", BERT, "--tokenizer", XLMR, "-o", P("e1"), "--method", "align",
                    "--parallel", P("nope.tsv")])
check(one_line_error(rc, err, 1, "nope.tsv") and not os.path.exists(P("e1")), "missing --parallel file")
with open(P("bad.tsv"), "w") as f:
    f.write("the house\tdas Haus\n\nno tab here\n")
rc, out, err = run(["vocab", "transfer", "-m", BERT, "--tokenizer", XLMR, "-o", P("e1"), "--method", "align",
                    "--parallel", P("bad.tsv")])
check(one_line_error(rc, err, 1, "bad.tsv line 3", "tab") and not os.path.exists(P("e1")), "bad --parallel line")
open(P("empty.txt"), "w").close()
rc, out, err = run(["vocab", "extend", "-m", BERT, "--add-tokens", P("empty.txt"), "-o", P("e1")])
check(one_line_error(rc, err, 1, "empty.txt", "no tokens") and not os.path.exists(P("e1")), "empty add-tokens file")
with open(P("known.txt"), "w") as f:
    f.write("hello\n[CLS]\n")
rc, out, err = run(["vocab", "extend", "-m", BERT, "--add-tokens", P("known.txt"), "-o", P("e1")])
check(one_line_error(rc, err, 1, "already in the vocabulary"), "nothing new to add")
# a CLIP-style BPE (end-of-word suffix) is not a convention xling reads
os.makedirs(P("clip"))
with open(P("clip/tokenizer.json"), "w") as f:
    json.dump({"version": "1.0", "added_tokens": [], "normalizer": None, "pre_tokenizer": {"type": "Whitespace"},
               "post_processor": None, "decoder": None,
               "model": {"type": "BPE", "vocab": {"a": 0, "b</w>": 1, "ab</w>": 2}, "merges": ["a b</w>"],
                         "end_of_word_suffix": "</w>", "unk_token": None}}, f)
rc, out, err = run(["vocab", "transfer", "-m", XLMR, "--tokenizer", P("clip"), "-o", P("e1")])
check(one_line_error(rc, err, 1, "unsupported tokenizer pairing", "end_of_word_suffix") and not os.path.exists(P("e1")),
      "unsupported tokenizer named")
rc, out, err = run(["vocab", "transfer", "-m", P("clip"), "--tokenizer", XLMR, "-o", P("e1")])
check(one_line_error(rc, err, 1, "config.json") and not os.path.exists(P("e1")), "source without config.json")
# a full disk: an 800 kB file-size limit lets tokenizer.json (527 kB) through and stops
# the 1 MB checkpoint; nothing is left behind
os.makedirs(P("full"))


rc, out, err = run(["vocab", "transfer", "-m", XLMR, "--tokenizer", BERT, "-o", P("full/out")], preexec=file_size_limit(800 << 10))
check(one_line_error(rc, err, 1) and os.listdir(P("full")) == [], "full disk: error, nothing left: %r %s" % (os.listdir(P("full")), err))
shutil.copytree(P("x2b"), P("full/out"))
rc, out, err = run(["vocab", "transfer", "-m", XLMR, "--tokenizer", BERT, "-o", P("full/out"), "--force"], preexec=file_size_limit(800 << 10))
check(rc == 1 and sorted(os.listdir(P("full"))) == ["out"] and read_st(P("full/out/model.safetensors")) == read_st(P("x2b/model.safetensors")),
      "full disk with --force: the old OUT untouched")

shutil.rmtree(tmp)
summary("test_vocab_cli")
