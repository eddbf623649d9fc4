"""End-to-end tests of `xling classify train / predict`: the probabilities printed equal
liblinear's formula recomputed here from the classifier file's weights and the vectors
`xling embed` gives (binary: sigmoid of the decision value; several classes: one-vs-rest
sigmoids normalised to 1), within 1e-5; the label is the most probable; "id" copied;
--eval prints scikit-learn's accuracy and macro-F1 of those predictions; a model of
another identity, a broken classifier file, missing labels and bad options are one-line
errors. Prints "test_classify_cli: N passed, N failed, 0 skipped" last."""
import json, math, os, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import FIX, check, summary, run, write_jsonl  # noqa: E402


def macro_f1(gold, pred):
    labels = sorted(set(gold) | set(pred), key=str)
    f = []
    for l in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == l and p == l)
        fp = sum(1 for g, p in zip(gold, pred) if g != l and p == l)
        fn = sum(1 for g, p in zip(gold, pred) if g == l and p != l)
        f.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(f) / len(f)


tmp = tempfile.mkdtemp(prefix="xl_classify_cli_")
P = lambda n: os.path.join(tmp, n)
M = os.path.join(FIX, "xlmr-tiny")
words = {"pos": ["good", "great", "wonderful", "excellent", "nice", "happy"],
         "neg": ["bad", "terrible", "awful", "horrible", "sad", "poor"],
         "neu": ["table", "chair", "window", "street", "paper", "door"]}
for nclass in (2, 3):
    classes = list(words)[:nclass]
    train = [{"text": "this is " + w, "label": c} for c in classes for w in words[c]]
    test = [{"id": i, "text": "really " + w, "label": c} for i, (c, w) in enumerate((c, w) for c in classes for w in words[c])]
    write_jsonl(P("train.jsonl"), train)
    write_jsonl(P("test.jsonl"), test)
    rc, out, err = run(["classify", "train", "-m", M, "-i", P("train.jsonl"), "-o", P("clf.json")])
    check(rc == 0 and os.path.exists(P("clf.json")), "train %d classes: %s" % (nclass, err))
    if rc:
        continue
    clf = json.load(open(P("clf.json")))
    check(clf["format"] == "xling-classifier" and sorted(clf["labels"]) == sorted(classes) and
          len(clf["weights"]) == (1 if nclass == 2 else nclass), "classifier file layout")
    rc, out, err = run(["classify", "predict", "--classifier", P("clf.json"), "-i", P("test.jsonl"), "--eval"])
    res = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
    check(rc == 0 and len(res) == len(test) and [r["id"] for r in res] == [t["id"] for t in test], "predict: %s" % err)
    with open(P("test.txt"), "w") as f:
        f.write("\n".join(t["text"] for t in test) + "\n")
    rc2, eout, _ = run(["embed", "-m", M, "-i", P("test.txt")])
    vecs = [json.loads(l)["embedding"] for l in eout.splitlines()]
    worst, right_label = 0.0, True
    for r, v in zip(res, vecs):
        dec = [sum(wi * xi for wi, xi in zip(w[:-1], v)) + w[-1] for w in clf["weights"]]
        if nclass == 2:
            p0 = 1 / (1 + math.exp(-dec[0]))
            probs = [p0, 1 - p0]
        else:
            s = [1 / (1 + math.exp(-d)) for d in dec]
            probs = [x / sum(s) for x in s]
        for lab, p in zip(clf["labels"], probs):
            worst = max(worst, abs(r["scores"][lab] - p))
        right_label &= r["label"] == clf["labels"][probs.index(max(probs))]
    check(res and worst < 1e-5, "%d classes: probabilities as liblinear's formula (max abs %g)" % (nclass, worst))
    check(res and right_label, "%d classes: label = the most probable" % nclass)
    gold = [t["label"] for t in test]
    pred = [r["label"] for r in res]
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold) if res else -1
    lines = dict(l.split(": ") for l in err.splitlines() if ": " in l and l.split(": ")[0] in ("accuracy", "f1_macro"))
    check(res and abs(float(lines.get("accuracy", -9)) - acc) < 1e-6 and abs(float(lines.get("f1_macro", -9)) - macro_f1(gold, pred)) < 1e-6,
          "--eval figures: %r (want %g, %g)" % (lines, acc, macro_f1(gold, pred) if res else -1))

# errors: one line, exit code, nothing on stdout
def fails(args, code, words_, what):
    rc, out, err = run(args)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == code and lines and (code != 1 or len(lines) == 1) and all(w in err for w in words_) and not out,
          "%s: rc %d %r" % (what, rc, err))

fails(["classify", "predict", "--classifier", P("clf.json"), "-m", os.path.join(FIX, "bert-tiny"), "-i", P("test.jsonl")], 1,
      ["another model", "bert-tiny"], "another model")
with open(P("bad.json"), "w") as f:
    f.write('{"format": "something else"}')
fails(["classify", "predict", "--classifier", P("bad.json"), "-i", P("test.jsonl")], 1, ["bad.json", "not an xling classifier"], "foreign file")
fails(["classify", "predict", "--classifier", P("nope.json"), "-i", P("test.jsonl")], 1, ["nope.json"], "missing file")
write_jsonl(P("nolabel.jsonl"), [{"text": "a"}, {"text": "b"}])
fails(["classify", "train", "-m", M, "-i", P("nolabel.jsonl"), "-o", P("x.json")], 1, ["label"], "no labels")
write_jsonl(P("one.jsonl"), [{"text": "a", "label": "x"}, {"text": "b", "label": "x"}])
fails(["classify", "train", "-m", M, "-i", P("one.jsonl"), "-o", P("x.json")], 1, ["single class"], "one class")
check(not os.path.exists(P("x.json")), "failed training leaves no file")
fails(["classify", "predict", "--classifier", P("clf.json"), "-i", P("nolabel.jsonl"), "--eval"], 1, ["--eval", "label"], "--eval without labels")
fails(["classify", "train", "-m", M, "-i", P("train.jsonl"), "-o", P("x.json"), "-C", "-1"], 2, ["-C"], "bad -C")
fails(["classify", "fit"], 2, ["train or predict"], "unknown subcommand")
fails(["classify", "predict", "-i", P("test.jsonl")], 2, ["--classifier"], "no classifier")

for f in os.listdir(tmp):
    os.unlink(os.path.join(tmp, f))
os.rmdir(tmp)
summary("test_classify_cli")
