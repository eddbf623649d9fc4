"""End-to-end tests of `xling cluster`: one {"cluster": c} line per input in order with
"id" passed through; the result is a k-means fixed point on the (normalised) vectors
`xling embed` gives (every point nearest its own cluster's mean, checked here in
Python); the same seed gives the same result; the printed V-measure equals one computed
here from the printed clusters (scikit-learn's formula, 1e-6); errors are one line.
Prints "test_cluster_cli: N passed, N failed, 0 skipped" last."""
import json, math, os, sys, tempfile
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import FIX, check, summary, run  # noqa: E402

MODEL = os.path.join(FIX, "xlmr-tiny")


def v_measure(gold, pred):
    n = len(gold)
    def H(labels):
        return -sum(c / n * math.log(c / n) for c in Counter(labels).values())
    hc, hk = H(gold), H(pred)
    cont = Counter(zip(gold, pred))
    ca, ka = Counter(gold), Counter(pred)
    mi = sum(c / n * math.log(c * n / (ca[a] * ka[b])) for (a, b), c in cont.items())
    h = mi / hc if hc > 0 else 1.0
    c = mi / hk if hk > 0 else 1.0
    return 2 * h * c / (h + c) if h + c > 0 else 0.0


tmp = tempfile.mkdtemp(prefix="xl_cluster_cli_")
words = ["cat", "dog", "tea", "coffee", "house", "river", "Katze", "Hund", "Tee", "Kaffee", "Haus", "Fluss",
         "chat", "chien", "thé", "café", "maison", "rivière", "gato", "perro", "té", "casa", "río", "mar"]
lines = [{"text": "the %s is here" % w, "id": i if i % 2 else "s%d" % i, "label": ["a", "b", "c"][i % 3]}
         for i, w in enumerate(words)]
path = os.path.join(tmp, "in.jsonl")
with open(path, "w") as f:
    for i, l in enumerate(lines):
        f.write(json.dumps(l) + "\n")
        if i == 5:
            f.write("\n")  # a blank line: skipped
rc, out, err = run(["cluster", "-m", MODEL, "-k", "3", "-i", path, "--seed", "3"])
res = [json.loads(l) for l in out.splitlines()]
check(rc == 0 and len(res) == len(lines), "one line per input: rc %d %s" % (rc, err))
check([r.get("id") for r in res] == [l["id"] for l in lines], "ids passed through in order")
clusters = [r["cluster"] for r in res]
check(set(clusters) == {0, 1, 2}, "three clusters used: %r" % clusters)
vline = [l for l in err.splitlines() if l.startswith("v_measure: ")]
check(len(vline) == 1 and abs(float(vline[0].split()[1]) - v_measure([l["label"] for l in lines], clusters)) < 1e-6,
      "printed V-measure equals sklearn's formula: %r" % err)
rc2, out2, _ = run(["cluster", "-m", MODEL, "-k", "3", "-i", path, "--seed", "3"])
check(out2 == out, "same seed, same clusters")

# a k-means fixed point on the normalised embeddings
txt = os.path.join(tmp, "in.txt")
with open(txt, "w") as f:
    f.write("\n".join(l["text"] for l in lines) + "\n")
rc, emb_out, err = run(["embed", "-m", MODEL, "-i", txt])
vecs = [json.loads(l)["embedding"] for l in emb_out.splitlines()]
vecs = [[x / math.sqrt(sum(y * y for y in v)) for x in v] for v in vecs]
rc, out_t, err = run(["cluster", "-m", MODEL, "-k", "4", "-i", txt, "--restarts", "3"])
cl = [json.loads(l)["cluster"] for l in out_t.splitlines()]
ok = rc == 0 and len(cl) == len(vecs) and "v_measure" not in err
if ok:
    dim = len(vecs[0])
    means = {}
    for c in set(cl):
        members = [vecs[i] for i in range(len(vecs)) if cl[i] == c]
        means[c] = [sum(m[d] for m in members) / len(members) for d in range(dim)]
    for i, v in enumerate(vecs):
        dist = {c: sum((v[d] - mu[d]) ** 2 for d in range(dim)) for c, mu in means.items()}
        ok = ok and dist[cl[i]] <= min(dist.values()) + 1e-6
check(ok, "text input: every point nearest its own cluster mean (%s)" % err)

# errors: one line, exit code
def fails(args, code, words_, what, stdin=None):
    rc, out, err = run(args, stdin)
    lines_ = [l for l in err.splitlines() if l.strip()]
    check(rc == code and lines_ and all(w in err for w in words_) and not out and (code != 1 or len(lines_) == 1),
          "%s: rc %d %r" % (what, rc, err))

fails(["cluster", "-m", MODEL, "-k", "99", "-i", path], 1, ["-k 99", "24 texts"], "k above n")
bad = os.path.join(tmp, "bad.jsonl")
with open(bad, "w") as f:
    f.write('{"text": "a", "label": "x"}\n{"text": "b"}\n')
fails(["cluster", "-m", MODEL, "-k", "1", "-i", bad], 1, ["label"], "labels on some lines only")
with open(bad, "w") as f:
    f.write('{"text": "a"}\n{"text": 5}\n')
fails(["cluster", "-m", MODEL, "-k", "1", "-i", bad], 1, ["line 2", "text"], "text not a string")
with open(bad, "w") as f:
    f.write('{"text": "a"}\n{oops\n')
fails(["cluster", "-m", MODEL, "-k", "1", "-i", bad], 1, ["line 2"], "malformed JSON line")
fails(["cluster", "-m", MODEL, "-i", path], 2, ["-k"], "no -k")
fails(["cluster", "-m", MODEL, "-k", "0", "-i", path], 2, ["-k"], "k = 0")
fails(["cluster", "-m", os.path.join(tmp, "nomodel"), "-k", "1", "-i", path], 1, ["nomodel"], "missing model")

for f in os.listdir(tmp):
    os.unlink(os.path.join(tmp, f))
os.rmdir(tmp)
summary("test_cluster_cli")
