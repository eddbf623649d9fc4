"""End-to-end tests of `xling eval`, `xling align` and `xling report` on a slice of the
data in data/ (two Tatoeba pairs, three STS-B languages) with the xlmr-tiny fixture model.
Every metric is recomputed here, independently, from the vectors `xling embed` writes
(sklearn's weighted averages, scipy's correlations, trec_eval's cut-offs, MEXA's rule),
tolerance 1e-4; the results layout, --resume, the HTML report (structure, and rendered
by headless Chromium without errors) and the error paths. Python standard library only.
Prints "test_eval_cli: N passed, N failed, N skipped" last."""
import html.parser, json, math, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import ROOT, FIX, check, summary, run, dot  # noqa: E402

MODEL = os.path.join(FIX, "xlmr-tiny")
DATA = os.path.join(ROOT, "data")
TOL = 1e-4


tmp = tempfile.mkdtemp(prefix="xl_eval_cli_")
P = lambda *a: os.path.join(tmp, *a)

# --- a slice of the data: same layout, fewer lines
N_TAT, N_STS = 24, 40
os.makedirs(P("data", "tatoeba", "v1"))
os.makedirs(P("data", "stsb-multi-mt", "data"))
for code in ("deu", "fra"):
    for side in (code, "eng"):
        name = "tatoeba.%s-eng.%s" % (code, side)
        with open(os.path.join(DATA, "tatoeba", "v1", name), encoding="utf-8") as f:
            lines = f.read().split("\n")[:N_TAT]
        with open(P("data", "tatoeba", "v1", name), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
for lang in ("en", "de", "fr"):
    name = "stsb-%s-test.csv" % lang
    with open(os.path.join(DATA, "stsb-multi-mt", "data", name), encoding="utf-8", newline="") as f:
        rows = f.read().split("\n")[:N_STS]
    with open(P("data", "stsb-multi-mt", "data", name), "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(rows) + "\n")


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def read_csv(path):
    import csv
    with open(path, encoding="utf-8", newline="") as f:
        return [(r[0], r[1], float(r[2])) for r in csv.reader(f)]


_cache = {}


def embed(texts, layers=False):
    """Vectors from `xling embed`, one call per batch of new texts; a text seen before
    gets the same vector (as eval embeds each distinct text once: equal texts must tie)."""
    new = [t for t in dict.fromkeys(texts) if (t, layers) not in _cache]
    if new:
        path = P("in_%d.txt" % len(os.listdir(tmp)))
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(new) + "\n")
        rc, out, err = run(["embed", "-m", MODEL, "-i", path] + (["--layers"] if layers else []))
        assert rc == 0, err
        rows = [json.loads(l) for l in out.splitlines()]
        for t, r in zip(new, rows):
            _cache[(t, layers)] = r if layers else r["embedding"]
    return [_cache[(t, layers)] for t in texts]


def cos(a, b):
    d = math.sqrt(dot(a, a)) * math.sqrt(dot(b, b))
    return dot(a, b) / d if d > 0 else 0.0


def argmax(v):
    best = 0
    for i, x in enumerate(v):
        if x > v[best]:
            best = i
    return best


def weighted_prf(y_true, y_pred):
    labels = sorted(set(y_true) | set(y_pred))
    n = len(y_true)
    P_ = R_ = F_ = 0.0
    for l in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == l and p == l)
        npred = sum(1 for p in y_pred if p == l)
        ntrue = sum(1 for t in y_true if t == l)
        p = tp / npred if npred else 0.0
        r = tp / ntrue if ntrue else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        P_ += p * ntrue / n
        R_ += r * ntrue / n
        F_ += f * ntrue / n
    return P_, R_, F_


def pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def ranks(x):
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(x, y):
    return pearson(ranks(x), ranks(y))


def near(a, b, tol=TOL):
    return abs(a - b) <= tol


# --- eval: all four tasks on the slice
out = P("results")
t0 = time.time()
rc, so, err = run(["eval", "-m", MODEL, "--data", P("data"), "-o", out])
check(rc == 0, "eval runs: %s" % err)
mdir = os.path.join(out, "xlmr-tiny")
files = sorted(os.listdir(mdir)) if os.path.isdir(mdir) else []
check(files == ["STSBenchmarkMultilingualSTS.json", "STSBenchmarkMultilingualSTSCross.json", "Tatoeba.json",
                "TatoebaRetrieval.json", "model_meta.json"], "result files: %r" % files)
res = {}
for f in files:
    with open(os.path.join(mdir, f), encoding="utf-8") as fh:
        res[f[:-5]] = json.load(fh)
for name in ("Tatoeba", "STSBenchmarkMultilingualSTS", "STSBenchmarkMultilingualSTSCross", "TatoebaRetrieval"):
    r = res.get(name, {})
    check(r.get("task_name") == name and "mteb_version" in r and r["mteb_version"] is None
          and r.get("xling_version") and len(r.get("dataset_revision", "")) == 16
          and r.get("evaluation_time", -1) >= 0, "%s header: %r" % (name, {k: v for k, v in r.items() if k != "scores"}))
    for e in r.get("scores", {}).get("test", []):
        nums = [v for k, v in e.items() if isinstance(v, float)]
        check(all(-1 <= v <= 1 for v in nums) and "main_score" in e and e.get("languages"),
              "%s %s metrics in [-1, 1] (correlations) / [0, 1]" % (name, e.get("hf_subset")))
check("Tatoeba (f1 x100)" in so and "deu-eng" in so and "mean" in so, "summary table: %s" % so[:300])
subsets = lambda name: [e["hf_subset"] for e in res.get(name, {}).get("scores", {}).get("test", [])]
check(subsets("Tatoeba") == ["deu-eng", "fra-eng"], "Tatoeba subsets")
check(subsets("STSBenchmarkMultilingualSTS") == ["en", "de", "fr"], "STS subsets")
check(subsets("STSBenchmarkMultilingualSTSCross") == ["en-de", "en-fr"], "cross subsets (default en-X)")
check(res.get("Tatoeba", {}).get("scores", {}).get("test", [{}])[0].get("languages") == ["deu-Latn", "eng-Latn"],
      "mteb language names")
meta = res.get("model_meta", {})
check(meta.get("name") == "xlmr-tiny" and meta.get("num_layers") == 2
      and meta.get("eval_settings", {}).get("prompt", 0) is None, "model_meta: %r" % meta)

# --- the same metrics from `xling embed` vectors
tat = {}
for code in ("deu", "fra"):
    xx = read_lines(P("data", "tatoeba", "v1", "tatoeba.%s-eng.%s" % (code, code)))
    en = read_lines(P("data", "tatoeba", "v1", "tatoeba.%s-eng.eng" % code))
    tat[code] = (xx, en, embed(xx), embed(en))
got = {e["hf_subset"]: e for e in res.get("Tatoeba", {}).get("scores", {}).get("test", [])}
for code, (xx, en, ex, ee) in tat.items():
    n = len(xx)
    fwd = [argmax([cos(ex[i], ee[j]) for j in range(n)]) for i in range(n)]
    bwd = [argmax([cos(ee[i], ex[j]) for j in range(n)]) for i in range(n)]
    p, r, f = weighted_prf(list(range(n)), fwd)
    want = {"accuracy": sum(fwd[i] == i for i in range(n)) / n, "precision": p, "recall": r, "f1": f, "main_score": f,
            "laser_error_xx_en": sum(fwd[i] != i for i in range(n)) / n,
            "laser_error_en_xx": sum(bwd[i] != i for i in range(n)) / n}
    g = got.get(code + "-eng", {})
    for k, v in want.items():
        check(k in g and near(g[k], v), "Tatoeba %s %s: got %r want %r" % (code, k, g.get(k), v))

sts = {l: read_csv(P("data", "stsb-multi-mt", "data", "stsb-%s-test.csv" % l)) for l in ("en", "de", "fr")}
emb1 = {l: embed([r[0] for r in sts[l]]) for l in sts}
emb2 = {l: embed([r[1] for r in sts[l]]) for l in sts}


def sklearn_cos(x, y):
    nx, ny = math.sqrt(dot(x, x)), math.sqrt(dot(y, y))
    return 1 - 0.5 * sum((p / nx - q / ny) ** 2 for p, q in zip(x, y))


def sts_want(a, b, gold):
    c = [sklearn_cos(x, y) for x, y in zip(a, b)]
    man = [-sum(abs(p - q) for p, q in zip(x, y)) for x, y in zip(a, b)]
    euc = [-math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y))) for x, y in zip(a, b)]
    return {"cosine_pearson": pearson(gold, c), "cosine_spearman": spearman(gold, c), "main_score": spearman(gold, c),
            "manhattan_pearson": pearson(gold, man), "manhattan_spearman": spearman(gold, man),
            "euclidean_pearson": pearson(gold, euc), "euclidean_spearman": spearman(gold, euc)}


got = {e["hf_subset"]: e for e in res.get("STSBenchmarkMultilingualSTS", {}).get("scores", {}).get("test", [])}
for l in sts:
    want = sts_want(emb1[l], emb2[l], [r[2] for r in sts[l]])
    for k, v in want.items():
        check(near(got.get(l, {}).get(k, 9), v), "STS %s %s: got %r want %r" % (l, k, got.get(l, {}).get(k), v))
got = {e["hf_subset"]: e for e in res.get("STSBenchmarkMultilingualSTSCross", {}).get("scores", {}).get("test", [])}
for b in ("de", "fr"):
    want = sts_want(emb1["en"], emb2[b], [r[2] for r in sts["en"]])
    for k, v in want.items():
        check(near(got.get("en-" + b, {}).get(k, 9), v), "cross en-%s %s: got %r want %r" % (b, k, got.get("en-" + b, {}).get(k), v))

# retrieval: the corpus is the distinct English sentences of both pairs
corpus, cemb = [], []
for code in ("deu", "fra"):
    for t, e in zip(tat[code][1], tat[code][3]):
        if t not in corpus:
            corpus.append(t)
            cemb.append(e)
got = {e["hf_subset"]: e for e in res.get("TatoebaRetrieval", {}).get("scores", {}).get("test", [])}
for code, (xx, en, ex, ee) in tat.items():
    acc = {"ndcg_at_10": 0, "mrr_at_10": 0, "recall_at_1": 0, "recall_at_10": 0, "recall_at_100": 0}
    for i in range(len(xx)):
        s = [cos(ex[i], d) for d in cemb]
        order = sorted(range(len(s)), key=lambda j: (-s[j], j))
        r = order.index(corpus.index(en[i])) + 1
        acc["ndcg_at_10"] += 1 / math.log2(r + 1) if r <= 10 else 0
        acc["mrr_at_10"] += 1 / r if r <= 10 else 0
        acc["recall_at_1"] += r <= 1
        acc["recall_at_10"] += r <= 10
        acc["recall_at_100"] += r <= 100
    for k, v in acc.items():
        check(near(got.get(code + "-eng", {}).get(k, 9), v / len(xx)),
              "retrieval %s %s: got %r want %r" % (code, k, got.get(code + "-eng", {}).get(k), v / len(xx)))
print("eval + independent check: %.1fs" % (time.time() - t0), file=sys.stderr)

# --- filters and prompts
rc, so, err = run(["eval", "-m", MODEL, "--data", P("data"), "--tasks", "sts", "--langs", "de"])
check(rc == 0 and "  de " in so and "  fr " not in so, "--langs de: %s %s" % (so, err))
rc, so, err = run(["eval", "-m", MODEL, "--data", P("data"), "--tasks", "sts", "--langs", "de", "--prefix", "query: "])
check(rc == 0, "--prefix runs: %s" % err)
de_plain = [l for l in run(["eval", "-m", MODEL, "--data", P("data"), "--tasks", "sts", "--langs", "de"])[1].splitlines() if l.startswith("  de")]
check([l for l in so.splitlines() if l.startswith("  de")] != de_plain, "a prefix changes the scores")
rc, so, err = run(["eval", "-m", MODEL, "--data", P("data"), "--tasks", "tatoeba-retrieval", "--langs", "deu",
                   "--doc-prompt", "nope"])
check(rc == 1 and "nope" in err and len(err.strip().splitlines()) == 1, "unknown doc prompt: %s" % err)
# output folders are made on demand, however deep; nothing temporary is left beside the results
deep = P("deep", "a", "b")
rc, so, err = run(["eval", "-m", MODEL, "--data", P("data"), "--tasks", "sts", "--langs", "de", "-o", deep])
dfiles = sorted(os.listdir(os.path.join(deep, "xlmr-tiny"))) if os.path.isdir(os.path.join(deep, "xlmr-tiny")) else []
check(rc == 0 and dfiles == ["STSBenchmarkMultilingualSTS.json", "model_meta.json"], "nested -o: %r %s" % (dfiles, err))

# --- --resume: existing results are kept, missing ones made
stamp = {f: os.stat(os.path.join(mdir, f)).st_mtime_ns for f in files}
os.remove(os.path.join(mdir, "STSBenchmarkMultilingualSTS.json"))
rc, so, err = run(["eval", "-m", MODEL, "--data", P("data"), "-o", out, "--resume"])
check(rc == 0 and err.count("skipped (--resume)") == 3, "--resume skips 3 tasks: %s" % err)
check(os.path.exists(os.path.join(mdir, "STSBenchmarkMultilingualSTS.json")), "--resume remakes the missing task")
check(all(os.stat(os.path.join(mdir, f)).st_mtime_ns == stamp[f] for f in
          ("Tatoeba.json", "TatoebaRetrieval.json", "STSBenchmarkMultilingualSTSCross.json")), "--resume leaves done tasks alone")
check("STSBenchmarkMultilingualSTS (" in so and "Tatoeba (" not in so, "--resume summary: only the new task")

# --- align: MEXA from `xling embed --layers` (mean, last), shape of weighted mean
N_AL = 12
rc, so, err = run(["align", "-m", MODEL, "--data", P("data"), "--pairs", "eng-deu,fra", "--n", str(N_AL), "-o", out])
check(rc == 0 and "average" in so and "eng-fra" in so, "align runs: %s %s" % (so[:200], err))
try:
    with open(os.path.join(mdir, "MEXA.json"), encoding="utf-8") as fh:
        mexa = json.load(fh)
except (OSError, ValueError):
    mexa = {}
check(sorted(mexa.get("pairs", {})) == ["eng-deu", "eng-fra"], "MEXA pairs")


def mexa_score(x, y):
    n = len(x)
    C = [[cos(x[i], y[j]) for j in range(n)] for i in range(n)]
    return sum(all(C[i][i] > C[i][j] and C[i][i] > C[j][i] for j in range(n) if j != i) for i in range(n)) / n


avg = {"mean": [0.0] * 3, "last": [0.0] * 3}
for code in ("deu", "fra"):
    lx = embed(tat[code][0][:N_AL], layers=True)
    le = embed(tat[code][1][:N_AL], layers=True)
    for kind in ("mean", "last"):
        got_k = mexa.get("pairs", {}).get("eng-" + code, {}).get(kind, [])
        check(len(got_k) == 3, "MEXA %s %s: L+1 = 3 entries" % (code, kind))
        for l in range(3):
            want = mexa_score([r[kind][l] for r in lx], [r[kind][l] for r in le])
            avg[kind][l] += want / 2
            check(l < len(got_k) and near(got_k[l], want), "MEXA %s %s layer %d: got %r want %r" % (code, kind, l, got_k[l:l + 1], want))
    w = mexa.get("pairs", {}).get("eng-" + code, {}).get("weighted_mean", [])
    check(len(w) == 3 and all(0 <= v <= 1 and v * N_AL == round(v * N_AL) for v in w), "weighted_mean: %r" % w)
for kind in ("mean", "last"):
    check(all(near(a, b) for a, b in zip(mexa.get("average", {}).get(kind, []), avg[kind])), "MEXA average %s" % kind)

# --- report: structure, then a headless Chromium render
rep = P("report.html")
rc, so, err = run(["report", out, "-o", rep])
check(rc == 0 and os.path.exists(rep), "report: %s" % err)


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.bars, self.polylines, self.external, self.h3 = [], [], 0, [], []
        self._in_h3 = False
        self._svg = -1

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "svg":
            self._svg += 1
            self.bars.append([])
        if tag == "rect" and a.get("class") == "bar":
            self.bars[self._svg].append(float(a["width"]))
        if tag == "polyline":
            self.polylines += 1
        for k in ("src", "href"):
            if k in a:
                self.external.append(a[k])
        if tag == "h3":
            self._in_h3 = True

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in_h3 = False

    def handle_data(self, data):
        if self._in_h3:
            self.h3.append(data)


pg = Page()
with open(rep, encoding="utf-8") as fh:
    text = fh.read()
pg.feed(text)
check("script" not in pg.tags and not pg.external and "http://www.w3.org/2000/svg" in text
      and text.count("://") == text.count("http://www.w3.org/2000/svg"), "self-contained: no script, no links")
check(pg.h3[:4] == ["STSBenchmarkMultilingualSTS", "STSBenchmarkMultilingualSTSCross", "Tatoeba", "TatoebaRetrieval"]
      and any("MEXA" in h for h in pg.h3), "report sections: %r" % pg.h3)
bar_svgs = [b for b in pg.bars if b]
check([len(b) for b in bar_svgs] == [3, 2, 2, 2], "bars per task: %r" % [len(b) for b in bar_svgs])
check(all(b == sorted(b, reverse=True) for b in bar_svgs), "bars sorted by score")
check(pg.polylines == 3 * 3, "MEXA curves: 2 pairs + average, 3 poolings (%d)" % pg.polylines)
check("model_meta" not in pg.h3 and "eval_settings" in text and "align_settings" in text and "XLMRobertaModel" in text,
      "model info and settings")
rc, so, err = run(["eval", "-m", MODEL, "--data", P("data"), "-o", out, "--resume", "--report", P("r2.html")])
check(rc == 0 and os.path.exists(P("r2.html")), "eval --report: %s" % err)

chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if check(chromium is not None, "chromium is installed (scripts/setup.sh installs it)"):
    shot = os.environ.get("XLING_REPORT_PNG", P("report.png"))
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--enable-logging=stderr", "--v=0", "--window-size=1200,1600", "--screenshot=" + shot,
                        "file://" + rep], capture_output=True, timeout=120, cwd=tmp)
    log = p.stderr.decode("utf-8", "replace")
    bad = [l for l in log.splitlines() if "CONSOLE" in l or "Refused" in l or "net::ERR" in l or "Uncaught" in l]
    check(p.returncode == 0 and os.path.getsize(shot) > 10000 and not bad, "chromium renders the report: %r" % bad[:3])
    d = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + rep],
                       capture_output=True, timeout=120, cwd=tmp)
    dom = d.stdout.decode("utf-8", "replace")
    check(d.returncode == 0 and dom.count("<svg") == 7 and "TatoebaRetrieval" in dom, "rendered DOM has the 7 charts")

# --- bad input: one line on stderr, exit 1 (2 for usage)
def one_line_error(args, code, needle, what):
    rc, so, err = run(args)
    lines = [l for l in err.strip().splitlines() if not l.startswith("see `xling")]   # usage errors add the hint
    check(rc == code and needle in err and len(lines) == 1, "%s: rc %d %r" % (what, rc, err))


one_line_error(["eval", "-m", MODEL, "--data", P("nope")], 1, "data folder", "missing data folder")
rc, so, err = run(["eval", "-m", MODEL, "--data", P("data"), "--tasks", "tatoeba,mteb"])
check(rc == 2 and "unknown task \"mteb\"" in err and "sts-cross" in err, "unknown task: %r" % err)
rc, so, err = run(["eval", "-m", MODEL, "--data", P("data"), "--langs", "deu,xxx"])
check(rc == 2 and "unknown language \"xxx\"" in err and "deu fra" in err and "en de es" in err, "unknown language: %r" % err)
with open(P("afile"), "w") as fh:
    fh.write("x")
one_line_error(["eval", "-m", MODEL, "--data", P("data"), "-o", P("afile"), "--tasks", "sts"], 1, "not a folder", "output folder is a file")
one_line_error(["eval", "-m", MODEL, "--data", P("data"), "--resume"], 2, "need -o", "--resume without -o")
one_line_error(["eval", "-m", MODEL, "--data", P("data"), "--prefix", "q: ", "--prompt", "query"], 2,
               "--prefix and --prompt", "--prefix with --prompt")
one_line_error(["eval", "-m", MODEL, "--data", P("data"), "--bogus"], 2, "unknown option --bogus", "eval unknown option")
one_line_error(["eval", "-m", P("nomodel"), "--data", P("data"), "--tasks", "sts"], 1, "nomodel", "missing model")
os.makedirs(P("broken", "tatoeba", "v1"))
with open(P("broken", "tatoeba", "v1", "tatoeba.deu-eng.deu"), "w") as fh:
    fh.write("a\nb\n")
with open(P("broken", "tatoeba", "v1", "tatoeba.deu-eng.eng"), "w") as fh:
    fh.write("a\n")
one_line_error(["eval", "-m", MODEL, "--data", P("broken"), "--tasks", "tatoeba"], 1, "aligned", "misaligned pair")
rc, so, err = run(["align", "-m", MODEL, "--data", P("data"), "--pairs", "eng-zzz"])
check(rc == 2 and "unknown pair \"eng-zzz\"" in err and "deu fra" in err, "align unknown pair: %r" % err)
one_line_error(["align", "-m", MODEL, "--data", P("nope")], 1, "data folder", "align missing data")
os.makedirs(P("empty"))
one_line_error(["report", P("empty"), "-o", P("e.html")], 1, "no results", "report of an empty folder")
check(not os.path.exists(P("e.html")), "no report file on error")
one_line_error(["report", P("afile"), "-o", P("e.html")], 1, "not a results folder", "report of a file")
one_line_error(["report", out], 2, "-o FILE", "report without -o")

shutil.rmtree(tmp, ignore_errors=True)
summary("test_eval_cli")
