"""End-to-end tests of `xling index` with the xlmr-tiny fixture model: create / add /
search / info / export, scores against the vectors `xling embed` writes with the same
prompts (cosine, tolerance 1e-5), metadata filters, resume and --replace, HNSW against
exact search, a model folder that moved, the crash test (SIGKILL of a child `add` in
the middle, then PRAGMA integrity_check, counts, resume), and the error paths (each a
one-line message, exit 1, or 2 for usage). Python standard library only.
Prints "test_index_cli: N passed, N failed, N skipped" last."""
import json, os, shutil, signal, sqlite3, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import XLING, FIX, check, summary, run, read_npy, dot, unit  # noqa: E402

MODEL = os.path.join(FIX, "xlmr-tiny")
OTHER = os.path.join(FIX, "bert-tiny")


def one_line_error(rc, err, want_rc, *words):
    lines = [l for l in err.splitlines() if l.strip()]
    return rc == want_rc and len(lines) >= 1 and all(w in lines[0] for w in words) and "Sanitizer" not in err


tmp = tempfile.mkdtemp(prefix="xl_index_cli_")
P = lambda name: os.path.join(tmp, name)

docs = [
    {"text": "The cat sleeps on the sofa.", "id": "cat-en", "meta": {"lang": "en", "year": 2020, "ok": True}},
    {"text": "Die Katze schläft auf dem Sofa.", "id": "cat-de", "meta": {"lang": "de", "year": 2021, "ok": False}},
    {"text": "I like green tea.", "id": 42, "meta": {"lang": "en", "year": 2021}},
    {"text": "Ich mag grünen Tee.", "meta": {"lang": "de", "year": 2020}},
    {"text": "Where is the railway station?"},
]
with open(P("docs.jsonl"), "w") as f:
    for d in docs:
        f.write(json.dumps(d, ensure_ascii=False) + "\n")

# --- create / info
rc, out, err = run(["index", "create", P("a.db"), "-m", MODEL])
check(rc == 0, "create: %s" % err)
rc, out, err = run(["index", "info", P("a.db"), "--json"])
info = json.loads(out) if rc == 0 else {}
check(info.get("count") == 0 and info.get("dim") == 16 and info.get("architecture") == "XLMRobertaModel"
      and info.get("prompts", {}).get("document") == "passage" and info.get("prompts", {}).get("query") == "query"
      and info.get("ann") == "none" and len(info.get("fingerprint", "")) == 16, "info --json after create: %r %s" % (info, err))

# --- add, then search against vectors from xling embed with the same prompts
rc, out, err = run(["index", "add", P("a.db"), "-i", P("docs.jsonl")])
check(rc == 0 and "5 added" in err, "add: %s" % err)
rc1, _, e1 = run(["embed", "-m", MODEL, "-i", P("docs.jsonl"), "--prompt", "passage", "-o", P("docs.npy")])
queries = ["a sleeping cat", "tea"]
with open(P("q.txt"), "w") as f:
    f.write("\n".join(queries) + "\n")
rc2, _, e2 = run(["embed", "-m", MODEL, "-i", P("q.txt"), "--prompt", "query", "-o", P("q.npy")])
check(rc1 == 0 and rc2 == 0, "embed: %s %s" % (e1, e2))
D = [unit(v) for v in read_npy(P("docs.npy"))[1]] if rc1 == 0 else []
Q = [unit(v) for v in read_npy(P("q.npy"))[1]] if rc2 == 0 else []
ids = ["cat-en", "cat-de", 42, 0, 1]  # the two without an id get new integers 0, 1
rc, out, err = run(["index", "search", P("a.db"), "-q", queries[0], "-q", queries[1], "-k", "3"])
res = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
check(len(res) == 2 and [r["query"] for r in res] == queries, "search: one line per query: %s" % err)
for qi, r in enumerate(res):
    want = sorted(((dot(Q[qi], D[j]), j) for j in range(len(D))), reverse=True)[:3]
    hits = r["hits"]
    check(len(hits) == 3 and [h["id"] for h in hits] == [ids[j] for _, j in want]
          and all(abs(h["score"] - s) < 1e-5 for h, (s, _) in zip(hits, want))
          and all(h["text"] == docs[j]["text"] and h["meta"] == docs[j].get("meta") for h, (_, j) in zip(hits, want)),
          "search %r = cosine ranking: %r vs %r" % (queries[qi], hits, want))
# queries from a JSONL file keep their id
with open(P("q.jsonl"), "w") as f:
    f.write(json.dumps({"text": "tea", "id": "q1"}) + "\n")
rc, out, err = run(["index", "search", P("a.db"), "-i", P("q.jsonl"), "-k", "1"])
r = json.loads(out) if rc == 0 else {}
check(r.get("id") == "q1" and len(r.get("hits", [])) == 1, "search -i JSONL keeps the query id: %r %s" % (r, err))

# --- filters: string, number, boolean; applied before ranking
def hit_ids(args):
    rc, out, err = run(["index", "search", P("a.db"), "-q", "cat", "-k", "10"] + args)
    return [h["id"] for h in json.loads(out)["hits"]] if rc == 0 else err


check(sorted(map(str, hit_ids(["--where", "lang=de"]))) == ["0", "cat-de"], "where lang=de")
check(sorted(map(str, hit_ids(["--where", "year=2021"]))) == ["42", "cat-de"], "where year=2021 (number)")
check(hit_ids(["--where", "ok=true"]) == ["cat-en"], "where ok=true (boolean)")
check(hit_ids(["--where", "lang=en", "--where", "year=2020"]) == ["cat-en"], "two filters")
check(hit_ids(["--where", "lang=fr"]) == [], "no match: no hits")

# --- resume and replace
rc, out, err = run(["index", "add", P("a.db"), "-i", P("docs.jsonl")])
check(rc == 0 and "0 added" in err and "5 skipped" in err, "rerun skips stored items: %s" % err)
changed = [dict(docs[0], text="The dog barks.")]
with open(P("changed.jsonl"), "w") as f:
    f.write(json.dumps(changed[0]) + "\n")
rc, out, err = run(["index", "add", P("a.db"), "-i", P("changed.jsonl"), "--replace"])
check(rc == 0 and "1 replaced" in err, "--replace: %s" % err)
rc, out, err = run(["index", "search", P("a.db"), "-q", "dog", "-k", "10", "--where", "lang=en", "--where", "ok=true"])
check(rc == 0 and json.loads(out)["hits"][0]["text"] == "The dog barks.", "replaced text is searched: %s" % out)
# plain text lines: new integer ids; the same file again adds nothing, a longer one only its new lines
with open(P("lines.txt"), "w") as f:
    f.write("first line\n\nsecond line\n")
rc, _, err = run(["index", "add", P("a.db"), "-i", P("lines.txt")])
check(rc == 0 and "2 added" in err, "text lines (blank skipped): %s" % err)
rc, _, err = run(["index", "add", P("a.db")], stdin=b"first line\n\nsecond line\nthird line\n")
check(rc == 0 and "1 added" in err and "2 skipped" in err, "stdin continuing a file adds its new line: %s" % err)

# --- export
rc, out, err = run(["index", "export", P("a.db"), "-o", P("x.npy")])
X = read_npy(P("x.npy"))[1] if rc == 0 else []
with open(P("x.ids.jsonl")) if rc == 0 else open(os.devnull) as f:
    rows = [json.loads(l) for l in f]
check(len(X) == 8 and len(rows) == 8 and [r["id"] for r in rows[:5]] == ids
      and all(abs(dot(X[i], D[i]) - 1) < 1e-5 for i in range(1, 5)) and rows[0]["text"] == "The dog barks."
      and rows[1]["meta"] == docs[1]["meta"], "export: %s" % err)
rc, out, err = run(["index", "export", P("a.db"), "-o", P("y.npy"), "--ids", P("y.jsonl")])
check(rc == 0 and os.path.exists(P("y.jsonl")) and not os.path.exists(P("y.ids.jsonl")), "export --ids: %s" % err)

# --- HNSW gives the exact answer on a small index; info reports it in step
rc, _, err = run(["index", "create", P("h.db"), "-m", MODEL, "--ann", "hnsw", "--ef-search", "50"])
rc2, _, err2 = run(["index", "add", P("h.db"), "-i", P("docs.jsonl")])
check(rc == 0 and rc2 == 0 and os.path.exists(P("h.db.hnsw")), "hnsw create/add: %s %s" % (err, err2))
rc, out_h, err = run(["index", "search", P("h.db"), "-q", "cat", "-q", "tea", "-k", "5"])
rc2, out_e, err2 = run(["index", "search", P("h.db"), "-q", "cat", "-q", "tea", "-k", "5", "--exact"])
ha = [json.loads(l) for l in out_h.splitlines()] if rc == 0 else None
he = [json.loads(l) for l in out_e.splitlines()] if rc2 == 0 else None
check(ha is not None and he is not None and [[h["id"] for h in r["hits"]] for r in ha] == [[h["id"] for h in r["hits"]] for r in he]
      and all(abs(a["score"] - b["score"]) < 1e-5 for x, y in zip(ha, he) for a, b in zip(x["hits"], y["hits"])),
      "hnsw = exact on 5 items: %s %s" % (err, err2))
rc, out, err = run(["index", "info", P("h.db")])
check(rc == 0 and "hnsw (M 16, ef_construction 200, ef_search 50): in step" in out and "count          5" in out, "info text: %s" % out)

# --- a model folder that moved: -m with the same identity works; without it, the error says so
moved = P("moved-model")
shutil.copytree(MODEL, moved)
rc, _, err = run(["index", "create", P("m.db"), "-m", moved])
rc2, _, err2 = run(["index", "add", P("m.db"), "-i", P("docs.jsonl")])
shutil.move(moved, P("moved-again"))
rc3, out, err3 = run(["index", "search", P("m.db"), "-q", "cat", "-m", P("moved-again")])
check(rc == 0 and rc2 == 0 and rc3 == 0 and len(json.loads(out)["hits"]) == 5, "moved model with -m: %s %s %s" % (err, err2, err3))
rc, _, err = run(["index", "search", P("m.db"), "-q", "cat"])
check(one_line_error(rc, err, 1, "moved-model", "-m DIR"), "moved model without -m: %s" % err)

# --- the crash test: SIGKILL a child add mid-way, check the file, resume
for ann in ("none", "hnsw"):
    db = P("crash-%s.db" % ann)
    rc, _, err = run(["index", "create", db, "-m", MODEL, "--ann", ann])
    n = 1500
    with open(P("big.jsonl"), "w") as f:
        for i in range(n):
            f.write(json.dumps({"text": "sentence %d about topic %d" % (i, i % 13), "id": "s%d" % i, "meta": {"t": i % 13}}) + "\n")
    child = subprocess.Popen([XLING, "index", "add", db, "-i", P("big.jsonl"), "--batch", "8"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    committed, t0 = 0, time.time()
    while time.time() - t0 < 120 and child.poll() is None:
        try:
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
            committed = con.execute("SELECT count(*) FROM items").fetchone()[0]
            con.close()
        except sqlite3.Error:
            pass
        if committed >= 200:
            break
        time.sleep(0.05)
    killed = child.poll() is None
    if killed:
        child.send_signal(signal.SIGKILL)
    child.wait()
    con = sqlite3.connect(db)
    integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    c1 = con.execute("SELECT count(*) FROM items").fetchone()[0]
    con.close()
    check(killed and integrity == "ok" and 200 <= c1 < n, "[%s] killed mid-way: integrity %s, %d rows" % (ann, integrity, c1))
    check(c1 % 8 == 0, "[%s] only whole batches are stored (%d rows, batches of 8)" % (ann, c1))
    if ann == "hnsw":
        # the killed add never wrote its graph: a search builds it from the committed rows
        rc, out, err = run(["index", "info", db, "--json"])
        check(rc == 0 and json.loads(out)["hnsw"]["rows_behind"] != 0, "hnsw behind after the kill: %s %s" % (out, err))
        rc, out, err = run(["index", "search", db, "-q", "sentence 5 about topic 5", "-k", "%d" % c1])
        check(rc == 0 and len(json.loads(out)["hits"]) == c1, "hnsw search over the %d committed rows: %s" % (c1, err))
        rc, out, err = run(["index", "info", db, "--json"])
        check(rc == 0 and json.loads(out)["hnsw"]["rows_behind"] == 0, "search wrote the caught-up graph: %s" % out)
    rc, _, err = run(["index", "add", db, "-i", P("big.jsonl"), "--batch", "64"])
    check(rc == 0 and ("%d added" % (n - c1)) in err and ("%d skipped" % c1) in err, "[%s] resume: %s" % (ann, err))
    con = sqlite3.connect(db)
    integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    c2, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM items").fetchone()
    con.close()
    check(integrity == "ok" and c2 == n and distinct == n, "[%s] after resume: %s, %d rows, %d ids" % (ann, integrity, c2, distinct))
    rc, out, err = run(["index", "search", db, "-q", "sentence 1234 about topic 12", "-k", "3", "--where", "t=12"])
    hits = json.loads(out)["hits"] if rc == 0 else []
    check(len(hits) == 3 and all(h["meta"]["t"] == 12 for h in hits), "[%s] search after resume: %s" % (ann, err))
    if ann == "hnsw":
        rc, out, err = run(["index", "info", db, "--json"])
        check(rc == 0 and json.loads(out)["hnsw"]["rows_behind"] == 0, "hnsw in step after resume: %s" % out)

# --- a model without prompts: none recorded, documents and queries embedded as they are
rc, _, err = run(["index", "create", P("b.db"), "-m", OTHER])
rc2, out, err2 = run(["index", "info", P("b.db"), "--json"])
pr = json.loads(out)["prompts"] if rc2 == 0 else {}
check(rc == 0 and pr.get("document") is None and pr.get("query") is None, "no prompts: %r %s %s" % (pr, err, err2))
rc, _, err = run(["index", "add", P("b.db"), "-i", P("docs.jsonl")])
rc2, _, err2 = run(["embed", "-m", OTHER, "-i", P("docs.jsonl"), "-o", P("b.npy")])
rc3, out, err3 = run(["index", "search", P("b.db"), "-q", docs[2]["text"], "-k", "1"])
check(rc == 0 and rc2 == 0 and rc3 == 0 and json.loads(out)["hits"][0]["id"] == 42
      and abs(json.loads(out)["hits"][0]["score"] - 1) < 1e-5, "no prompts: a document finds itself with cosine 1: %s %s" % (err, err3))

# --- errors: one line each
rc, _, err = run(["index", "search", P("none.db"), "-q", "x"])
check(one_line_error(rc, err, 1, "none.db", "does not exist"), "missing DB: %s" % err)
with open(P("text.db"), "w") as f:
    f.write("just text, not a database at all, but long enough for SQLite to look at it\n" * 3)
rc, _, err = run(["index", "info", P("text.db")])
check(one_line_error(rc, err, 1, "text.db", "not an SQLite database"), "foreign file: %s" % err)
con = sqlite3.connect(P("other.db"))
con.execute("CREATE TABLE t(x)")
con.commit()
con.close()
rc, _, err = run(["index", "add", P("other.db"), "-i", P("docs.jsonl")])
check(one_line_error(rc, err, 1, "other.db", "not an xling index"), "foreign SQLite file: %s" % err)
shutil.copy(P("crash-none.db"), P("corrupt.db"))
with open(P("corrupt.db"), "r+b") as f:
    f.seek(8192)
    f.write(b"\xa5" * 65536)
rc, _, err = run(["index", "search", P("corrupt.db"), "-q", "x", "--exact"])
check(one_line_error(rc, err, 1, "corrupt.db", "corrupt"), "corrupt file: %s" % err)
rc, _, err = run(["index", "search", P("a.db"), "-q", "x", "-m", OTHER])
check(one_line_error(rc, err, 1, "BertModel", "XLMRobertaModel", OTHER), "another model: %s" % err)
rc, _, err = run(["index", "add", P("a.db"), "-m", OTHER, "-i", P("docs.jsonl")])
check(one_line_error(rc, err, 1, "BertModel", "XLMRobertaModel"), "add with another model: %s" % err)
open(P("empty.txt"), "w").close()
rc, _, err = run(["index", "add", P("a.db"), "-i", P("empty.txt")])
check(one_line_error(rc, err, 1, "no texts", "empty.txt"), "empty input: %s" % err)
with open(P("bad.jsonl"), "w") as f:
    f.write('{"text": "ok", "id": "z1"}\n{"text": 5}\n')
rc, _, err = run(["index", "add", P("a.db"), "-i", P("bad.jsonl")])
check(one_line_error(rc, err, 1, "line 2", "text"), "bad JSONL line: %s" % err)
with open(P("bad2.jsonl"), "w") as f:
    f.write('{"text": "ok", "meta": [1]}\n{"text": "x", "id": 1.5}\n')
rc, _, err = run(["index", "add", P("a.db"), "-i", P("bad2.jsonl")])
check(one_line_error(rc, err, 1, "line 1", "meta"), "meta not an object: %s" % err)
rc, _, err = run(["index", "create", P("e.db"), "-m", MODEL])
rc, _, err = run(["index", "search", P("e.db"), "-q", "x"])
check(one_line_error(rc, err, 1, "empty"), "search of an empty index: %s" % err)
rc, _, err = run(["index", "create", P("a.db"), "-m", MODEL])
check(one_line_error(rc, err, 1, "already exists"), "create over an index: %s" % err)
rc, _, err = run(["index", "create", P("p.db"), "-m", MODEL, "--doc-prompt", "nope"])
check(one_line_error(rc, err, 1, "nope", "query", "passage") and not os.path.exists(P("p.db")), "unknown prompt: %s" % err)
rc, _, err = run(["index", "create", P("p.db"), "-m", MODEL, "--ann", "ivf"])
check(one_line_error(rc, err, 2, "--ann"), "bad --ann: %s" % err)
rc, _, err = run(["index", "search", P("a.db")])
check(one_line_error(rc, err, 2, "-q"), "search without queries: %s" % err)
rc, _, err = run(["index", "search", P("a.db"), "-q", "x", "--where", "novalue"])
check(one_line_error(rc, err, 2, "KEY=VALUE"), "bad --where: %s" % err)
rc, _, err = run(["index", "frobnicate", P("a.db")])
check(one_line_error(rc, err, 2, "frobnicate"), "unknown subcommand: %s" % err)
rc, out, err = run(["index", "--help"])
check(rc == 0 and "xling index create" in out and "--where" in out, "--help")

shutil.rmtree(tmp, ignore_errors=True)
summary("test_index_cli")
