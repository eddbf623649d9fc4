"""End-to-end tests of bge-m3 in the CLI with the shared bge-m3-tiny fixture (F16 weights:
tolerance 2e-3 against its float64 reference.json): `xling embed --head` (all, each head
alone, --sparse-tokens keyed by the vocabulary piece, input_ids input, "id" and
--keep-fields passed through, dense .npy = the JSONL dense = plain `xling embed`),
`xling rerank --m3` (order and scores of the reference's rerank queries, sub-scores of
its pairs, --top-k, --weights, --no-text), and the error paths (a folder without heads,
a hostile colbert_linear.pt, formats that cannot hold the heads, bad options): each a
one-line message with exit 1 (runtime) or 2 (usage), and no output file left.
Python standard library only. Prints "test_m3_cli: N passed, N failed, N skipped" last."""
import json, os, shutil, struct, sys, tempfile, zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import FIX, SHARED_FIX, check, skip, summary, run, one_line_error, jsonl, maxdiff  # noqa: E402

MODEL = os.path.join(SHARED_FIX, "bge-m3-tiny")
PLAIN = os.path.join(FIX, "xlmr-tiny")
TOL = 2e-3


if not os.path.isfile(os.path.join(MODEL, "reference.json")):
    skip("bge-m3-tiny: %s not found" % MODEL)
    summary("test_m3_cli")

ref = json.load(open(os.path.join(MODEL, "reference.json"), encoding="utf-8"))
inputs = ref["inputs"]
tmp = tempfile.mkdtemp(prefix="xl_m3_cli_")
P = lambda name: os.path.join(tmp, name)
with open(P("in.jsonl"), "w", encoding="utf-8") as f:
    for i, x in enumerate(inputs):
        f.write(json.dumps({"id": "t%d" % i, "text": x["text"], "lang": i}, ensure_ascii=False) + "\n")
with open(P("ids.jsonl"), "w") as f:
    for x in inputs:
        f.write(json.dumps({"input_ids": x["input_ids"]}) + "\n")


def check_line(i, line, heads, how):
    x = inputs[i]
    if "dense" in heads:
        check(maxdiff(line.get("embedding", []), x["dense"]) <= TOL, "%s %d: dense" % (how, i))
    else:
        check("embedding" not in line, "%s %d: no embedding key" % (how, i))
    if "sparse" in heads:
        got = line.get("sparse", {})
        want = x["sparse"]
        missing = [k for k, w in want.items() if k not in got and w > TOL]
        extra = [k for k, w in got.items() if k not in want and w > TOL]
        diff = max([abs(got[k] - w) for k, w in want.items() if k in got] or [0.0])
        check(not missing and not extra and diff <= TOL, "%s %d: sparse missing %s extra %s diff %g" % (how, i, missing, extra, diff))
    else:
        check("sparse" not in line, "%s %d: no sparse key" % (how, i))
    if "colbert" in heads:
        got = line.get("colbert", [])
        check(len(got) == len(x["colbert"]) == x["n_tokens"] - 1 and
              max([maxdiff(a, b) for a, b in zip(got, x["colbert"])] or [0.0]) <= TOL, "%s %d: colbert" % (how, i))
    else:
        check("colbert" not in line, "%s %d: no colbert key" % (how, i))


# --- embed --head all, from JSONL text (ids passed through) and from input_ids
rc, out, err = run(["embed", "-m", MODEL, "--head", "all", "-i", P("in.jsonl")])
lines = jsonl(out) if rc == 0 else []
check(rc == 0 and len(lines) == len(inputs), "--head all: rc %d %s" % (rc, err))
for i, line in enumerate(lines):
    check(line.get("id") == "t%d" % i and "lang" not in line, "--head all %d: id passed, other fields not" % i)
    check_line(i, line, ("dense", "sparse", "colbert"), "all")
rc, out, err = run(["embed", "-m", MODEL, "--head", "all", "-i", P("ids.jsonl")])
lines_ids = jsonl(out) if rc == 0 else []
check(rc == 0 and len(lines_ids) == len(inputs), "--head all ids: %s" % err)
for i, line in enumerate(lines_ids):
    check_line(i, line, ("dense", "sparse", "colbert"), "ids")
# each head alone, a comma list, --keep-fields
for heads in (["dense"], ["sparse"], ["colbert"], ["dense", "colbert"]):
    rc, out, err = run(["embed", "-m", MODEL, "--head", ",".join(heads), "-i", P("in.jsonl"), "--keep-fields"])
    ls = jsonl(out) if rc == 0 else []
    check(rc == 0 and len(ls) == len(inputs), "--head %s: %s" % (heads, err))
    for i, line in enumerate(ls):
        check(line.get("lang") == i and line.get("id") == "t%d" % i, "--keep-fields %d" % i)
        check_line(i, line, heads, ",".join(heads))
# text arguments and stdin give the same lines
rc, out, err = run(["embed", "-m", MODEL, "--head", "sparse", inputs[0]["text"], inputs[1]["text"]])
rc2, out2, _ = run(["embed", "-m", MODEL, "--head", "sparse"], stdin=(inputs[0]["text"] + "\n" + inputs[1]["text"] + "\n").encode())
check(rc == 0 and rc2 == 0 and out == out2 and len(jsonl(out)) == 2, "arguments = stdin: %s" % err)

# --- --sparse-tokens: keys are vocabulary pieces
rc, out, err = run(["embed", "-m", MODEL, "--head", "sparse", "--sparse-tokens", "-i", P("in.jsonl")])
ls = jsonl(out) if rc == 0 else []
check(rc == 0 and len(ls) == len(inputs), "--sparse-tokens: %s" % err)
pieces_checked = 0
for i, line in enumerate(ls):
    want = {ref["token_strings"][k]["piece"]: w for k, w in inputs[i]["sparse"].items() if k in ref["token_strings"]}
    if len(want) != len(inputs[i]["sparse"]):
        continue  # a piece the reference did not list
    got = line.get("sparse", {})
    check(set(k for k, w in got.items() if w > TOL) == set(k for k, w in want.items() if w > TOL) and
          max([abs(got[k] - w) for k, w in want.items() if k in got] or [0.0]) <= TOL,
          "--sparse-tokens %d: %s vs %s" % (i, sorted(got), sorted(want)))
    pieces_checked += 1
check(pieces_checked >= 3, "--sparse-tokens: %d inputs checked" % pieces_checked)
check(any(k.startswith("\u2581") for l in ls for k in l.get("sparse", {})), "--sparse-tokens: SentencePiece pieces (with U+2581)")

# --- dense to .npy: the JSONL dense, and plain `xling embed` (the folder's CLS + Normalize)
rc, out, err = run(["embed", "-m", MODEL, "--head", "dense", "-i", P("in.jsonl"), "-o", P("dense.npy")])
check(rc == 0 and os.path.isfile(P("dense.npy")), "--head dense -o npy: %s" % err)
if rc == 0:
    data = open(P("dense.npy"), "rb").read()
    hl = struct.unpack("<H", data[8:10])[0]
    vals = struct.unpack("<%df" % (len(inputs) * 32), data[10 + hl:])
    rows = [list(vals[i * 32:(i + 1) * 32]) for i in range(len(inputs))]
    check(all(maxdiff(rows[i], lines[i]["embedding"]) < 1e-7 for i in range(len(inputs))), "npy dense = JSONL dense")
    rc, out, err = run(["embed", "-m", MODEL, "-i", P("in.jsonl")])
    plain = jsonl(out) if rc == 0 else []
    check(len(plain) == len(inputs) and all(maxdiff(plain[i]["embedding"], rows[i]) < 1e-6 for i in range(len(inputs))),
          "plain embed = --head dense")

# --- rerank --m3: the reference's queries, orders and scores
for q in ref["rerank"]:
    with open(P("docs.jsonl"), "w", encoding="utf-8") as f:
        for k, d in enumerate(q["documents"]):
            f.write(json.dumps({"text": d, "id": 100 + k}, ensure_ascii=False) + "\n")
    rc, out, err = run(["rerank", "--m3", "-m", MODEL, "-q", q["query"], "-i", P("docs.jsonl")])
    ls = jsonl(out) if rc == 0 else []
    check(rc == 0 and len(ls) == len(q["documents"]), "rerank --m3: %s" % err)
    check([l.get("index") for l in ls] == q["order"], "rerank --m3 order %s vs %s" % ([l.get("index") for l in ls], q["order"]))
    for l in ls:
        k = l.get("index", -1)
        check(0 <= k < len(q["documents"]) and abs(l["score"] - q["scores"][k]) <= TOL and l.get("id") == 100 + k and
              l.get("text") == q["documents"][k], "rerank --m3 doc %d: %r" % (k, l))
    rc, out, err = run(["rerank", "--m3", "-m", MODEL, "-q", q["query"], "-i", P("docs.jsonl"), "--top-k", "1", "--no-text"])
    ls = jsonl(out) if rc == 0 else []
    check(rc == 0 and len(ls) == 1 and ls[0]["index"] == q["order"][0] and "text" not in ls[0], "--top-k 1 --no-text: %s" % out)
# sub-scores of the reference pairs, and --weights
for p in ref["pairs"]:
    qt, dt = inputs[p["query_index"]]["text"], inputs[p["doc_index"]]["text"]
    rc, out, err = run(["rerank", "--m3", "-m", MODEL, "-q", qt, dt])
    ls = jsonl(out) if rc == 0 else []
    ok = rc == 0 and len(ls) == 1
    check(ok and all(abs(ls[0][k] - p[key]) <= TOL for k, key in
                     (("dense", "dense"), ("lexical", "lexical"), ("colbert", "colbert"), ("score", "combined"))),
          "pair %d-%d: %s %s" % (p["query_index"], p["doc_index"], out, err))
    rc, out, err = run(["rerank", "--m3", "-m", MODEL, "-q", qt, dt, "--weights", "0,0,1"])
    ls = jsonl(out) if rc == 0 else []
    check(rc == 0 and len(ls) == 1 and abs(ls[0]["score"] - ls[0]["colbert"]) < 1e-6, "--weights 0,0,1: %s" % out)

# --- errors
rc, out, err = run(["embed", "-m", PLAIN, "--head", "all", "x"])
check(one_line_error(rc, err, 1, "not a bge-m3 folder") and out == "", "--head on a folder without heads: %d %s" % (rc, err))
rc, out, err = run(["rerank", "--m3", "-m", PLAIN, "-q", "x", "y"])
check(one_line_error(rc, err, 1, "not a bge-m3 folder"), "rerank --m3 without heads: %s" % err)
for args, words in (
    (["--head", "colbert", "-o", P("c.npy")], (".npy", "--head dense")),
    (["--head", "all", "--format", "f32"], ("f32", "JSONL")),
    (["--head", "nope"], ("--head must be",)),
    (["--sparse-tokens"], ("--sparse-tokens needs --head sparse",)),
    (["--head", "dense", "--sparse-tokens"], ("--sparse-tokens needs --head sparse",)),
    (["--head", "all", "--pooling", "mean"], ("--pooling cannot be used with --head",)),
    (["--head", "all", "--precision", "int8"], ("--precision cannot be used with --head",)),
    (["--head", "all", "--layers"], ("--layers cannot be used with --head",)),
    (["--head", "all", "--chunk-size", "8"], ("--chunk-size cannot be used with --head",)),
    (["--head", "dense", "--late-chunking"], ("--late-chunking cannot be used with --head",)),
):
    rc, out, err = run(["embed", "-m", MODEL, "x"] + args)
    check(one_line_error(rc, err, 2, *words), "usage %s: %d %s" % (args, rc, err))
check(not os.path.exists(P("c.npy")), "no output file after a usage error")
for args, words in (
    ([], ("-q",)),
    (["-q", "x", "--weights", "1,2"], ("--weights",)),
    (["-q", "x", "--weights", "0,0,0"], ("--weights",)),
    (["-q", "x", "--weights", "-1,1,1"], ("--weights",)),
    (["-q", "", "d"], ("non-empty query",)),
):
    rc, out, err = run(["rerank", "--m3", "-m", MODEL] + args)
    check(one_line_error(rc, err, 2, *words), "rerank usage %s: %d %s" % (args, rc, err))
rc, out, err = run(["rerank", "--m3", "-m", MODEL, "-q", "x", "-i", P("ids.jsonl")])
check(one_line_error(rc, err, 1, "input_ids", "line 1"), "rerank --m3 ids input: %s" % err)
rc, out, err = run(["rerank", "--m3", "-m", MODEL, "-q", "x"], stdin=b"")
check(one_line_error(rc, err, 1, "no documents"), "rerank --m3 no documents: %s" % err)

# a hostile colbert_linear.pt (a pickle calling os.system) in a copy of the folder: refused
# with the file named, nothing executed, no output file
bad = P("bad-m3")
os.mkdir(bad)
for name in os.listdir(MODEL):
    if name != "colbert_linear.pt":
        target = os.path.join(os.path.abspath(MODEL), name)
        if name == "tokenizer.json" and os.path.getsize(target) < 512:  # a symlink kept as text
            target = os.path.join(os.path.abspath(MODEL), open(target).read().strip())
        os.symlink(target, os.path.join(bad, name))
pwned = P("pwned")
pkl = b"\x80\x02cos\nsystem\nq\x00X" + struct.pack("<I", len("touch " + pwned)) + ("touch " + pwned).encode() + b"\x85R."
with zipfile.ZipFile(os.path.join(bad, "colbert_linear.pt"), "w") as z:
    z.writestr("colbert_linear/data.pkl", pkl)
    z.writestr("colbert_linear/version", "3\n")
rc, out, err = run(["embed", "-m", bad, "--head", "all", "x", "-o", P("bad.jsonl")])
check(one_line_error(rc, err, 1, "colbert_linear.pt", "os.system is not allowed") and not os.path.exists(pwned) and
      not os.path.exists(P("bad.jsonl")), "hostile .pt: %d %s" % (rc, err))
# a head whose shape does not fit the model
with zipfile.ZipFile(os.path.join(MODEL, "sparse_linear.pt")) as src, \
        zipfile.ZipFile(os.path.join(bad, "colbert_linear.pt.new"), "w") as dst:
    for info in src.infolist():
        dst.writestr(info.filename.replace("sparse_linear/", "colbert_linear/"), src.read(info.filename))
os.replace(os.path.join(bad, "colbert_linear.pt.new"), os.path.join(bad, "colbert_linear.pt"))
rc, out, err = run(["embed", "-m", bad, "--head", "colbert", "x"])
check(rc == 0, "a [1, 32] colbert head is a 1-wide ColBERT: %s" % err)
if rc == 0:
    cb = jsonl(out)[0]["colbert"]
    check(all(len(v) == 1 and abs(abs(v[0]) - 1) < 1e-6 for v in cb), "1-wide ColBERT vectors are +-1: %s" % cb)
os.unlink(os.path.join(bad, "sparse_linear.pt"))
rc, out, err = run(["embed", "-m", bad, "--head", "sparse", "x"])
check(one_line_error(rc, err, 1, "sparse_linear.pt"), "--head sparse without sparse_linear.pt: %s" % err)
rc, out, err = run(["rerank", "--m3", "-m", bad, "-q", "x", "y"])
check(one_line_error(rc, err, 1, "sparse_linear.pt"), "rerank --m3 without sparse_linear.pt: %s" % err)

shutil.rmtree(tmp)
summary("test_m3_cli")
