"""End-to-end tests of `xling mine`: vectors from .npy files with a hand-computed answer,
texts embedded with a fixture model (the same pairs as from the vectors `xling embed`
writes), every option's values, atomic output, and the error paths (each a one-line
message, exit 1, or 2 for usage). Python standard library only.
Prints "test_mine_cli: N passed, N failed, N skipped" last. Scores: 1e-5."""
import json, os, struct, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import FIX, check, summary, run  # noqa: E402

MODEL = os.path.join(FIX, "xlmr-tiny")


def write_npy(path, rows, descr="<f4", fortran=False, truncate=0):
    n, d = len(rows), len(rows[0]) if rows else 0
    fmt = {"<f4": "f", "<f8": "d"}[descr]
    head = "{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d), }" % (descr, "True" if fortran else "False", n, d)
    head += " " * ((64 - (len(head) + 11) % 64) % 64) + "\n"
    body = b"".join(struct.pack("<%d%s" % (d, fmt), *r) for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode() + body[: len(body) - truncate])


def pairs(out):
    return [json.loads(l) for l in out.splitlines() if l.strip()]


tmp = tempfile.mkdtemp(prefix="xl_mine_cli_")
P = lambda name: os.path.join(tmp, name)

# --- hand-computed case (see tests/test_mine.c): x0=(1,0), x1=(0,1); y0=(1,0), y1=(.6,.8); k=2
write_npy(P("x.npy"), [[1, 0], [0, 1]])
write_npy(P("y.npy"), [[1, 0], [0.6, 0.8]])
want = {"ratio": (1 / 0.65, 0.8 / 0.55), "distance": (0.35, 0.25), "absolute": (1.0, 0.8)}
for margin, (s0, s1) in want.items():
    for mode in ("mine", "intersect", "forward", "backward"):
        rc, out, err = run(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy"), "-k", "2", "--margin", margin, "--mode", mode])
        got = pairs(out) if rc == 0 else []
        check(rc == 0 and [(p["src"], p["tgt"]) for p in got] == [(0, 0), (1, 1)]
              and abs(got[0]["score"] - s0) < 1e-5 and abs(got[1]["score"] - s1) < 1e-5,
              "npy %s %s: %r %s" % (margin, mode, got, err))
# unnormalised and float64 input: normalised first, same answer
write_npy(P("x8.npy"), [[3, 0], [0, 0.5]], descr="<f8")
rc, out, err = run(["mine", "--src-emb", P("x8.npy"), "--tgt-emb", P("y.npy"), "-k", "2"])
check(rc == 0 and abs(pairs(out)[0]["score"] - 1 / 0.65) < 1e-5, "float64 unnormalised: %s" % err)
rc, out, err = run(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy"), "-k", "2", "--threshold", "1.5"])
check(rc == 0 and len(pairs(out)) == 1, "threshold keeps one pair")

# --- texts with the fixture model, against vectors from xling embed
src = ["The cat sleeps.", "I like green tea.", "Where is the station?", "It rains today."]
tgt = ["Es regnet heute.", "Wo ist der Bahnhof?", "Die Katze schläft.", "Ich mag grünen Tee.", "Ein Hund bellt."]
with open(P("src.txt"), "w") as f:
    f.write("\n".join(src) + "\n")
with open(P("tgt.txt"), "w") as f:
    f.write("\r\n".join(tgt) + "\r\n")  # CRLF lines: the \r is not part of the text
rc1, _, e1 = run(["embed", "-m", MODEL, "-i", P("src.txt"), "-o", P("src.npy")])
rc2, _, e2 = run(["embed", "-m", MODEL, "-i", P("tgt.txt"), "-o", P("tgt.npy")])
check(rc1 == 0 and rc2 == 0, "embed for mine: %s %s" % (e1, e2))
for mode in ("mine", "forward", "backward", "intersect"):
    rc, out_m, err = run(["mine", "-m", MODEL, P("src.txt"), P("tgt.txt"), "--mode", mode])
    rc_v, out_v, err_v = run(["mine", "--src-emb", P("src.npy"), "--tgt-emb", P("tgt.npy"), P("src.txt"), P("tgt.txt"), "--mode", mode])
    a, b = pairs(out_m) if rc == 0 else None, pairs(out_v) if rc_v == 0 else None
    check(a is not None and b is not None and [(p["src"], p["tgt"]) for p in a] == [(p["src"], p["tgt"]) for p in b]
          and all(abs(p["score"] - q["score"]) < 1e-5 for p, q in zip(a, b)), "model vs npy, %s: %s %s" % (mode, err, err_v))
    if a:
        check(all(p["src_text"] == src[p["src"]] and p["tgt_text"] == tgt[p["tgt"]] for p in a), "texts of %s" % mode)
        check(all(a[i]["score"] >= a[i + 1]["score"] for i in range(len(a) - 1)), "sorted %s" % mode)
        n_want = {"mine": 4, "forward": 4, "backward": 5}.get(mode)
        if n_want:
            check(len(a) == n_want, "%s gives %d pairs (want %d)" % (mode, len(a), n_want))
        if mode == "mine":
            check(len({p["src"] for p in a}) == len(a) and len({p["tgt"] for p in a}) == len(a), "mine uses each sentence once")
rc, out, err = run(["mine", "-m", MODEL, P("src.txt"), P("tgt.txt"), "--format", "tsv", "-o", P("out.tsv")])
rows = open(P("out.tsv"), encoding="utf-8").read().splitlines() if rc == 0 else []
check(rc == 0 and out == "" and len(rows) == 4 and all(len(r.split("\t")) == 3 and r.split("\t")[1] in src and r.split("\t")[2] in tgt for r in rows),
      "tsv output: %r %s" % (rows, err))
check(not [f for f in os.listdir(tmp) if ".tmp." in f], "no temporary file left")

# --- errors: one line, exit status, nothing written
def fails(args, code, words, what, out_file=None):
    if out_file and os.path.exists(out_file):
        os.unlink(out_file)
    rc, out, err = run(args)
    lines = [l for l in err.splitlines() if l.strip()]
    ok = rc == code and lines and all(w in err for w in words) and not out
    if code == 1:
        ok = ok and len(lines) == 1
    if out_file:
        ok = ok and not os.path.exists(out_file)
    check(ok, "%s: rc %d, stderr %r" % (what, rc, err))

write_npy(P("z3.npy"), [[1, 0, 0]])
fails(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("z3.npy")], 1, ["dimensions differ", "2", "3"], "dimension mismatch")
write_npy(P("nan.npy"), [[1, 0], [float("nan"), 1]])
fails(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("nan.npy"), "-o", P("o.jsonl")], 1, ["NaN", "row 1"], "NaN row", P("o.jsonl"))
write_npy(P("trunc.npy"), [[1, 0], [0, 1]], truncate=3)
fails(["mine", "--src-emb", P("trunc.npy"), "--tgt-emb", P("y.npy")], 1, ["trunc.npy", "bytes"], "truncated npy")
write_npy(P("fort.npy"), [[1, 0], [0, 1]], fortran=True)
fails(["mine", "--src-emb", P("fort.npy"), "--tgt-emb", P("y.npy")], 1, ["Fortran"], "Fortran order")
with open(P("junk.npy"), "wb") as f:
    f.write(b"not an array")
fails(["mine", "--src-emb", P("junk.npy"), "--tgt-emb", P("y.npy")], 1, ["junk.npy", "not a .npy"], "not npy")
fails(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy"), P("src.txt"), P("tgt.txt")], 1, ["lines", "vectors"], "line count mismatch")
open(P("empty.txt"), "w").close()
fails(["mine", "-m", MODEL, P("empty.txt"), P("tgt.txt")], 1, ["nothing to mine"], "empty side")
fails(["mine", "-m", MODEL, P("nope.txt"), P("tgt.txt")], 1, ["nope.txt"], "missing file")
fails(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy"), "--format", "tsv"], 2, ["tsv", "text files"], "tsv without texts")
fails(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy"), "--mode", "best"], 2, ["--mode"], "bad mode")
fails(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy"), "--margin", "cos"], 2, ["--margin"], "bad margin")
fails(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy"), "--threshold", "high"], 2, ["--threshold"], "bad threshold")
fails(["mine", "--src-emb", P("x.npy")], 2, ["--tgt-emb"], "one side only")
fails(["mine", "-m", MODEL, "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy")], 2, ["exclude"], "model and vectors")
fails(["mine", "-m", MODEL, P("src.txt")], 2, ["two text files"], "one text file")
fails(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy"), "-o", "/nonexistent-dir/out.jsonl"], 1, ["nonexistent-dir", "cannot create"], "unwritable output")
if os.path.exists("/dev/full"):
    fails(["mine", "--src-emb", P("x.npy"), "--tgt-emb", P("y.npy"), "-o", "/dev/full"], 1, ["/dev/full"], "output to /dev/full")

for f in os.listdir(tmp):
    os.unlink(os.path.join(tmp, f))
os.rmdir(tmp)
summary("test_mine_cli")
