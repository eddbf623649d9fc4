"""End-to-end tests of `xling embed --chunk-size` (long documents) with bge-m3-tiny's
`long_document` reference (../shared fixtures): each --chunk-pooling against the
reference within 2e-3 (F16 weights), every --chunks line against its window's ids
embedded separately (`xling embed` on JSONL "input_ids", 1e-5), "id" and --keep-fields
passed through, --late-chunking against means of the reference's whole-text hidden
states, a text that fits one window byte-identical to plain `xling embed`, a decoder
(qwen3-tiny: its <|endoftext|> closes every window), and the usage and input errors
(one line each). Python standard library only.
Prints "test_chunk_cli: N passed, N failed, N skipped" last."""
import json, os, shutil, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import FIX, SHARED_FIX, check, skip, summary, run, one_line_error, jsonl, maxdiff, unit  # noqa: E402

TOL, SAME = 2e-3, 1e-5


def model(name):
    for d in (os.path.join(FIX, name), os.path.join(SHARED_FIX, name)):
        if os.path.exists(os.path.join(d, "config.json")):
            return d
    return None


def finish():
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    summary("test_chunk_cli")


tmp = None
M3 = model("bge-m3-tiny")
if not M3:
    skip("bge-m3-tiny: fixtures absent (../shared)")
    finish()

tmp = tempfile.mkdtemp(prefix="xl_chunk_cli_")
P = lambda name: os.path.join(tmp, name)
ref = json.load(open(os.path.join(M3, "reference.json")))
ld = ref["long_document"]
text, wins = ld["text"], ld["windows"]
N, OV = str(ld["chunk_size"]), str(ld["chunk_overlap"])
with open(P("docs.jsonl"), "w") as f:
    f.write(json.dumps({"id": "long", "lang": "mixed", "text": text}, ensure_ascii=False) + "\n")
    f.write(json.dumps({"id": 7, "lang": "de", "text": "Ein kurzer Satz."}, ensure_ascii=False) + "\n")

# --- every pooling against the reference's combined vectors; the short text is its plain vector
rc, plain_out, err = run(["embed", "-m", M3, "-i", P("docs.jsonl")])
check(rc == 0, "plain embed: %s" % err)
plain = jsonl(plain_out)
for pool in ("mean", "max", "first"):
    args = ["embed", "-m", M3, "-i", P("docs.jsonl"), "--chunk-size", N, "--chunk-overlap", OV]
    if pool != "mean":
        args += ["--chunk-pooling", pool]
    rc, out, err = run(args)
    got = jsonl(out) if rc == 0 else []
    if check(rc == 0 and len(got) == 2, "--chunk-pooling %s: rc %d %s" % (pool, rc, err)):
        d = maxdiff(got[0]["embedding"], ld["combined"][pool])
        check(d <= TOL, "--chunk-pooling %s: max abs diff %.3g" % (pool, d))
        check(got[0].get("id") == "long" and got[1].get("id") == 7 and "lang" not in got[0], "ids passed through: %r" % got[0].keys())
        check(got[1] == plain[1], "%s: the short text is its plain embedding" % pool)

# --- a chunk size the whole text fits in: the plain output, byte for byte
rc, out, err = run(["embed", "-m", M3, "-i", P("docs.jsonl"), "--chunk-size", "1000"])
check(rc == 0 and out == plain_out, "--chunk-size 1000 equals plain embed: %s" % err)

# --- --chunks: one line per window, each equal to its reference ids embedded alone
rc, out, err = run(["embed", "-m", M3, "-i", P("docs.jsonl"), "--chunk-size", N, "--chunk-overlap", OV, "--chunks",
                    "--keep-fields"])
got = jsonl(out) if rc == 0 else []
check(rc == 0 and len(got) == len(wins) + 1, "--chunks: %d lines, rc %d %s" % (len(got), rc, err))
ids_in = "".join(json.dumps({"input_ids": w["input_ids"]}) + "\n" for w in wins)
rc, sep_out, err = run(["embed", "-m", M3, "--input-format", "jsonl"], ids_in)
sep = jsonl(sep_out) if rc == 0 else []
check(rc == 0 and len(sep) == len(wins), "windows' ids embedded alone: %s" % err)
for k, w in enumerate(wins):
    if k >= len(got) or k >= len(sep):
        break
    g = got[k]
    check(g.get("id") == "long" and g.get("lang") == "mixed" and g.get("input") == 0 and g.get("chunk") == k
          and g.get("token_start") == w["token_start"] and g.get("token_end") == w["token_end"]
          and g.get("start") == w["byte_start"] and g.get("end") == w["byte_end"],
          "--chunks line %d: %r" % (k, {x: g[x] for x in g if x != "embedding"}))
    check(list(g.keys()) == ["id", "lang", "input", "chunk", "start", "end", "token_start", "token_end", "embedding"],
          "member order: %r" % list(g.keys()))
    d = maxdiff(g["embedding"], sep[k]["embedding"])
    check(d <= SAME, "--chunks window %d vs its ids alone: %.3g" % (k, d))
    d = maxdiff(g["embedding"], w["embedding"])
    check(d <= TOL, "--chunks window %d vs reference: %.3g" % (k, d))
if len(got) == len(wins) + 1:
    last = got[-1]
    check(last.get("id") == 7 and last.get("input") == 1 and last.get("chunk") == 0 and last.get("token_start") == 0
          and last.get("start") == 0 and last.get("end") == len("Ein kurzer Satz.")
          and last["embedding"] == plain[1]["embedding"], "--chunks, short text: %r" % {x: last[x] for x in last if x != "embedding"})

# --- --late-chunking: windows of N tokens without overlap, each the normalised mean of
# its rows of the whole-text forward (row 0 is <s>)
hs = ld["whole_last_hidden_state"]
rc, out, err = run(["embed", "-m", M3, "--chunk-size", N, "--late-chunking", text])
got = jsonl(out) if rc == 0 else []
n_tok = ld["n_text_tokens"]
spans = [(s, min(s + int(N), n_tok)) for s in range(0, n_tok, int(N))]
check(rc == 0 and len(got) == len(spans), "--late-chunking: %d lines, rc %d %s" % (len(got), rc, err))
for k, (s, e) in enumerate(spans[:len(got)]):
    want = unit([sum(hs[t + 1][j] for t in range(s, e)) / (e - s) for j in range(len(hs[0]))])
    bo = ld["byte_offsets"]
    check(got[k]["token_start"] == s and got[k]["token_end"] == e and got[k]["chunk"] == k
          and got[k]["start"] == bo[s][0] and got[k]["end"] == bo[e - 1][1], "late span %d: %r" % (k, {x: got[k][x] for x in got[k] if x != "embedding"}))
    d = maxdiff(got[k]["embedding"], want)
    check(d <= TOL, "late chunk %d: %.3g" % (k, d))
if got:
    d = maxdiff(got[0]["embedding"], wins[0]["late_chunk_normalized"])
    check(d <= TOL, "late chunk 0 vs the reference's: %.3g" % d)

# --- precision and stdin: int8 rows per window (ranges from all windows)
rc, out, err = run(["embed", "-m", M3, "--chunk-size", N, "--chunks", "--precision", "int8"], text + "\n")
got = jsonl(out) if rc == 0 else []
check(rc == 0 and len(got) == 4 and all(isinstance(x, int) for x in got[0]["embedding"]), "--chunks --precision int8: %s" % err)

# --- a decoder: each window is its tokens + <|endoftext|>; last-token pooling
Q3 = model("qwen3-tiny")
if Q3:
    doc = ("The quick brown fox jumps over the lazy dog. Der schnelle braune Fuchs springt über den faulen Hund. "
           "Le renard brun rapide saute par-dessus le chien paresseux.")
    rc, out, err = run(["tokenize", "-m", Q3, "--no-special", doc])
    ids = jsonl(out)[0]["ids"] if rc == 0 else []
    rc, out, err = run(["tokenize", "-m", Q3, "x"])
    eos = jsonl(out)[0]["ids"][-1] if rc == 0 else -1
    rc, out, err = run(["embed", "-m", Q3, "--chunk-size", "10", "--chunk-overlap", "2", "--chunks", doc])
    got = jsonl(out) if rc == 0 else []
    check(rc == 0 and len(got) == -(-(len(ids) - 2) // 8), "decoder --chunks: %d lines for %d tokens %s" % (len(got), len(ids), err))
    check(got and got[0]["start"] == 0 and got[-1]["end"] == len(doc.encode())
          and all(got[k]["start"] < got[k - 1]["end"] < got[k]["end"] for k in range(1, len(got))),
          "decoder byte spans: %r" % [(g["start"], g["end"]) for g in got])
    ids_in = "".join(json.dumps({"input_ids": ids[g["token_start"]:g["token_end"]] + [eos]}) + "\n" for g in got)
    rc, out, err = run(["embed", "-m", Q3, "--input-format", "jsonl"], ids_in)
    sep = jsonl(out) if rc == 0 else []
    for k, g in enumerate(got[:len(sep)]):
        d = maxdiff(g["embedding"], sep[k]["embedding"])
        check(d <= SAME, "decoder window %d vs its ids alone: %.3g" % (k, d))
    # weighted mean of those windows, renormalised
    rc, out, err = run(["embed", "-m", Q3, "--chunk-size", "10", "--chunk-overlap", "2", doc])
    comb = jsonl(out)[0]["embedding"] if rc == 0 else []
    w = [g["token_end"] - g["token_start"] for g in got]
    want = unit([sum(wk * g["embedding"][j] for wk, g in zip(w, got)) / sum(w) for j in range(len(comb))]) if got else []
    check(rc == 0 and maxdiff(comb, want) <= SAME, "decoder mean: %s" % err)
else:
    skip("qwen3-tiny: fixture absent")

# --- errors: one line each; usage errors exit 2, input errors 1 and name the line
cases = [
    (["--chunk-size", "4", "--chunk-overlap", "4", "x"], 2, ["--chunk-overlap 4 must be below --chunk-size 4"]),
    (["--chunk-size", "0", "x"], 2, ["--chunk-size", "[1,"]),
    (["--chunk-size", "-3", "x"], 2, ["--chunk-size"]),
    (["--chunk-overlap", "2", "x"], 2, ["--chunk-overlap needs --chunk-size"]),
    (["--chunks", "x"], 2, ["--chunks needs --chunk-size"]),
    (["--late-chunking", "x"], 2, ["--late-chunking needs --chunk-size"]),
    (["--chunk-size", "4", "--chunk-pooling", "median", "x"], 2, ["--chunk-pooling must be mean, max or first"]),
    (["--chunk-size", "4", "--chunks", "-o", P("c.npy"), "x"], 2, ["--chunks writes JSONL"]),
    (["--chunk-size", "4", "--late-chunking", "--format", "f32", "x"], 2, ["--late-chunking writes JSONL"]),
    (["--chunk-size", "4", "--chunks", "--chunk-pooling", "max", "x"], 2, ["--chunk-pooling combines windows"]),
    (["--chunk-size", "4", "--late-chunking", "--chunk-overlap", "1", "x"], 2, ["do not overlap"]),
    (["--chunk-size", "4", "--layers", "x"], 2, ["--layers and --chunk-size"]),
    (["--chunk-size", "48", "--max-length", "20", "x"], 1, ["chunk size 48", "exceeds the 20 tokens"]),
    (["--chunk-size", "48", "--late-chunking", "--max-length", "100", "short", text], 1,
     ["argument 2", "161 tokens", "late chunking", "at most 100"]),
]
for args, want_rc, words in cases:
    rc, out, err = run(["embed", "-m", M3] + args)
    check(one_line_error(rc, err, want_rc, *words) and not out,
          "%s: rc %d, %r" % (" ".join(args[:6]), rc, err))
check(not os.path.exists(P("c.npy")), "no .npy left by a refused run")
rc, out, err = run(["embed", "-m", M3, "--chunk-size", "4", "--input-format", "jsonl"], '{"text": "a"}\n{"input_ids": [0, 5, 2]}\n')
check(one_line_error(rc, err, 1, "stdin line 2", "needs text"), "input_ids with --chunk-size: %r" % err)
rc, out, err = run(["embed", "-m", M3, "--chunk-size", "4", "--chunks", "--keep-fields", "--input-format", "jsonl"], '{"text": "a", "chunk": 3}\n')
check(one_line_error(rc, err, 1, "stdin line 1", "\"chunk\" would clash"), "a kept field named like an output key: %r" % err)
rc, out, err = run(["embed", "--help"])
check(rc == 0 and "--chunk-size N" in out and "--late-chunking" in out and "--chunks" in out, "--help lists the chunk options")

finish()
