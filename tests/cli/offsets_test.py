"""`xling tokenize --offsets`: every line's "offsets" equal the Rust tokenizers crate's
byte offsets (tests/data/tokenizer_offsets, made by its gen.js) for two reference
tokenizers of ../shared (WordPiece and byte-level BPE), through JSONL input, and for
invalid UTF-8 through plain-text input (offsets into the original bytes); --no-special
and --max-length keep offsets with their tokens; no "offsets" without the flag; a text
pair with --offsets is a one-line error. Prints "test_offsets_cli: N passed, N failed,
N skipped" last."""
import functools, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import ROOT, FIX, SHARED_TOK, check, skip, summary  # noqa: E402

run = functools.partial(clitest.run, errors="replace")  # invalid UTF-8 input may come back as is

TOK = SHARED_TOK
DATA = os.path.join(ROOT, "tests", "data", "tokenizer_offsets")


def pairs(flat):
    return [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]


def to_repaired(raw, offs):
    """Offsets into raw (invalid UTF-8) -> offsets into raw.decode(errors="replace"):
    each maximal ill-formed subpart becomes one 3-byte U+FFFD."""
    where, i, o = {0: 0}, 0, 0
    while i < len(raw):
        c, k = raw[i], 1
        need, lo, hi = 0, 0x80, 0xBF
        if c < 0x80: need = 1
        elif 0xC2 <= c < 0xE0: need = 2
        elif 0xE0 <= c < 0xF0: need, lo, hi = 3, (0xA0 if c == 0xE0 else 0x80), (0x9F if c == 0xED else 0xBF)
        elif 0xF0 <= c < 0xF5: need, lo, hi = 4, (0x90 if c == 0xF0 else 0x80), (0x8F if c == 0xF4 else 0xBF)
        while need > 1 and k < need and i + k < len(raw) and (lo if k == 1 else 0x80) <= raw[i + k] <= (hi if k == 1 else 0xBF):
            k += 1
        valid = need and k == need
        i, o = i + (need if valid else k), o + (need if valid else 3)
        where[i] = o
    return [where[x] for x in offs]


corpus = [json.loads(l) for l in open(os.path.join(DATA, "corpus.jsonl"), encoding="utf-8")]
if not os.path.isdir(TOK):
    skip("offsets: ../shared is absent")
else:
    for name in ["bert-wordpiece", "llama3_1"]:
        exp = [json.loads(l) for l in open(os.path.join(DATA, name + ".jsonl"), encoding="utf-8")]
        rows = [(c, e) for c, e in zip(corpus, exp) if "text" in c]
        stdin = "".join(json.dumps({"id": c["id"], "text": c["text"]}) + "\n" for c, _ in rows)
        rc, out, err = run(["tokenize", "-m", os.path.join(TOK, name), "--input-format", "jsonl", "--offsets"], stdin.encode())
        got = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
        ok = sum(1 for g, (c, e) in zip(got, rows) if g["id"] == c["id"] and g["offsets"] == pairs(e["offsets"]))
        check(rc == 0 and len(got) == len(rows) and ok == len(rows), "%s: %d/%d lines with the crate's offsets (%s)" % (name, ok, len(rows), err))
        # invalid UTF-8 as plain text lines: the reader repairs a line (with a warning)
        # before tokenizing, so offsets index the repaired text: the expected offsets
        # into the original bytes, moved to the repaired bytes
        bad = [(c, e) for c, e in zip(corpus, exp) if "hex" in c]
        bad = [(c, e) for c, e in bad if b"\n" not in bytes.fromhex(c["hex"]) and bytes.fromhex(c["hex"]).strip() == bytes.fromhex(c["hex"])]
        stdin = b"".join(bytes.fromhex(c["hex"]) + b"\n" for c, _ in bad)
        rc, out, err = run(["tokenize", "-m", os.path.join(TOK, name), "--input-format", "text", "--offsets"], stdin)
        got = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
        ok = sum(1 for g, (c, e) in zip(got, bad) if g["offsets"] == pairs(to_repaired(bytes.fromhex(c["hex"]), e["offsets"])))
        check(rc == 0 and len(bad) >= 5 and ok == len(bad), "%s: invalid UTF-8, %d/%d lines as expected" % (name, ok, len(bad)))

    m = os.path.join(TOK, "bert-wordpiece")
    text = "Hello, wonderful world"
    rc, out, err = run(["tokenize", "-m", m, "--offsets", text], b"")
    g = json.loads(out) if rc == 0 else {}
    check(g.get("offsets") == [[0, 0], [0, 5], [5, 6], [7, 16], [17, 22], [0, 0]], "offsets of %r: %s %s" % (text, g, err))
    spans = [text.encode()[a:b].decode() for a, b in g.get("offsets", [])[1:-1]]
    check(spans == ["Hello", ",", "wonderful", "world"], "spans slice the input: %s" % spans)
    rc, out, err = run(["tokenize", "-m", m, "--offsets", "--no-special", text], b"")
    check(rc == 0 and json.loads(out)["offsets"] == [[0, 5], [5, 6], [7, 16], [17, 22]], "--no-special: %s %s" % (out, err))
    rc, out, err = run(["tokenize", "-m", m, "--offsets", "--max-length", "4", text], b"")
    g = json.loads(out) if rc == 0 else {}
    check(g.get("offsets") == [[0, 0], [0, 5], [5, 6], [0, 0]] and len(g.get("ids", [])) == 4, "--max-length 4: %s %s" % (out, err))
    rc, out, err = run(["tokenize", "-m", m, text], b"")
    check(rc == 0 and "offsets" not in json.loads(out), "no offsets without --offsets: %s" % out)

bert = os.path.join(FIX, "bert-tiny")
rc, out, err = run(["tokenize", "-m", bert, "--offsets", "--input-format", "jsonl"], b'{"text": "a", "text_pair": "b"}\n')
check(rc == 1 and out == "" and err.count("\n") == 1 and "--offsets is not available for text pairs" in err,
      "pair with --offsets: rc %d %r" % (rc, err))
rc, out, err = run(["tokenize", "--help"], b"")
check(rc == 0 and "--offsets" in out, "--help names --offsets")

summary("test_offsets_cli")
