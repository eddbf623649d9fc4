"""End-to-end tests of `xling rerank`, `xling score` and `xling index search --rerank`
against the references of ../shared's cross-encoder fixtures (xlmr-reranker-tiny,
bert-nli-tiny, qwen3-reranker-seqcls-tiny, qwen3-reranker-tiny): order and scores of the
reference `rerank` entries (tolerance 2e-3 for F16 weights, 1e-4 for F32), --raw-scores,
--top-k, --instruct, "id" pass-through, score output shapes, index hits reordered by the
cross-encoder, and the error paths (one line, exit 1, or 2 for usage). Python standard
library only. Prints "test_rerank_cli: N passed, N failed, N skipped" last."""
import json, os, shutil, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import FIX, SHARED_FIX, check, skip, summary, run, one_line_error, jsonl, write_jsonl  # noqa: E402

EMBEDDER = os.path.join(FIX, "xlmr-tiny")
NOHEAD = os.path.join(FIX, "bert-tiny")


def ref(name):
    with open(os.path.join(SHARED_FIX, name, "reference.json"), encoding="utf-8") as f:
        return json.load(f)


if not os.path.isdir(SHARED_FIX) or not os.path.isdir(os.path.join(SHARED_FIX, "qwen3-reranker-tiny")):
    skip("rerank: ../shared fixtures absent")
    summary("test_rerank_cli")

tmp = tempfile.mkdtemp(prefix="xl_rerank_cli_")
P = lambda name: os.path.join(tmp, name)


def check_rerank(name, model, query, docs, want, want_raw, order, tol, extra=()):
    """rerank the documents (JSONL with ids) and compare with the reference"""
    write_jsonl(P("docs.jsonl"), [{"id": "d%d" % i, "text": d} for i, d in enumerate(docs)])
    rc, out, err = run(["rerank", "-m", model, "-q", query, "-i", P("docs.jsonl")] + list(extra))
    rows = jsonl(out) if rc == 0 else []
    check(rc == 0 and len(rows) == len(docs), "%s rerank: rc %d %s" % (name, rc, err))
    check([r["index"] for r in rows] == order, "%s order %r vs reference %r" % (name, [r.get("index") for r in rows], order))
    worst = max([abs(r["score"] - want[r["index"]]) for r in rows] or [1])
    check(worst <= tol, "%s scores: max abs %.3g" % (name, worst))
    check(all(r["id"] == "d%d" % r["index"] and r["text"] == docs[r["index"]] for r in rows), "%s id / text" % name)
    check(all(list(r.keys())[0] == "id" for r in rows), "%s: id first" % name)
    rc, out, err = run(["rerank", "-m", model, "-q", query, "-i", P("docs.jsonl"), "--raw-scores"] + list(extra))
    rows = jsonl(out) if rc == 0 else []
    worst = max([abs(r["score"] - want_raw[r["index"]]) for r in rows] or [1])
    check(rc == 0 and worst <= tol, "%s raw scores: max abs %.3g %s" % (name, worst, err))
    rc, out, err = run(["rerank", "-m", model, "-q", query, "-i", P("docs.jsonl"), "--top-k", "2"] + list(extra))
    rows = jsonl(out) if rc == 0 else []
    check(rc == 0 and [r["index"] for r in rows] == order[:2], "%s --top-k 2: %r" % (name, [r.get("index") for r in rows]))


# --- xlmr-reranker-tiny: XLM-R cross-encoder, sigmoid
x = ref("xlmr-reranker-tiny")
rr = x["rerank"][0]
XLMR = os.path.join(SHARED_FIX, "xlmr-reranker-tiny")
check_rerank("xlmr-reranker-tiny", XLMR, rr["query"], rr["documents"], rr["scores"], rr["raw_scores"], rr["order"], 2e-3)
# plain text lines and documents as arguments give the same
docs = [d for d in rr["documents"] if "\n" not in d]
rc, out_args, err = run(["rerank", "-m", XLMR, "-q", rr["query"]] + docs)
rc2, out_lines, err2 = run(["rerank", "-m", XLMR, "-q", rr["query"]], stdin="\n".join(docs) + "\n")
check(rc == 0 and rc2 == 0 and out_args == out_lines and len(jsonl(out_args)) == len(docs), "arguments vs stdin lines: %s %s" % (err, err2))
check(all("id" not in r for r in jsonl(out_args)), "no id without JSONL ids")
# -o writes the same atomically; --no-text leaves the text out
rc, out, err = run(["rerank", "-m", XLMR, "-q", rr["query"], "-o", P("out.jsonl"), "--no-text"] + docs)
got = jsonl(open(P("out.jsonl"), encoding="utf-8").read()) if rc == 0 else []
check(rc == 0 and out == "" and [r["index"] for r in got] == [r["index"] for r in jsonl(out_args)] and all("text" not in r for r in got),
      "-o / --no-text: %s" % err)

# --- qwen3-reranker-seqcls-tiny: raw query and documents, xling applies the prompt
q = ref("qwen3-reranker-seqcls-tiny")
rr = q["rerank"][0]
suffix = q["input_format"]["suffix"]
raw_docs = [d[len("<Document>: "):-len(suffix)] for d in rr["documents"]]
check_rerank("qwen3-reranker-seqcls-tiny", os.path.join(SHARED_FIX, "qwen3-reranker-seqcls-tiny"), rr["raw_query"], raw_docs,
             rr["scores"], rr["raw_scores"], rr["order"], 2e-3)

# --- qwen3-reranker-tiny: yes/no, default instruction and --instruct
c = ref("qwen3-reranker-tiny")
QCL = os.path.join(SHARED_FIX, "qwen3-reranker-tiny")
for rr in c["rerank"]:
    extra = ["--instruct", rr["instruction"]] if rr["instruction"] else []
    check_rerank("qwen3-reranker-tiny%s" % (" --instruct" if extra else ""), QCL, rr["query"], rr["documents"], rr["scores"],
                 rr["logit_differences"], rr["order"], 2e-3, extra)
# the instruction matters
rr = c["rerank"][1]
rc, out, err = run(["rerank", "-m", QCL, "-q", rr["query"]] + rr["documents"])
rows = jsonl(out) if rc == 0 else []
check(rc == 0 and max(abs(r["score"] - rr["scores"][r["index"]]) for r in rows) > 1e-3, "default instruction differs from --instruct")

# --- score
b = ref("bert-nli-tiny")
BERT = os.path.join(SHARED_FIX, "bert-nli-tiny")
write_jsonl(P("pairs.jsonl"), [{"id": i, "text": p["text"], "text_pair": p["text_pair"]} for i, p in enumerate(b["pairs"])])
rc, out, err = run(["score", "-m", BERT, "-i", P("pairs.jsonl")])
rows = jsonl(out) if rc == 0 else []
check(rc == 0 and len(rows) == len(b["pairs"]), "score bert-nli-tiny: %s" % err)
worst = 0
for r, p in zip(rows, b["pairs"]):
    check(list(r.keys()) == ["id", "label", "scores"] and list(r["scores"].keys()) == ["contradiction", "entailment", "neutral"],
          "score shape: %r" % r)
    check(r["label"] == p["label"], "label %r vs %r" % (r["label"], p["label"]))
    worst = max([worst] + [abs(r["scores"][k] - p["probabilities"][k]) for k in p["probabilities"]])
check(worst <= 1e-4, "bert-nli-tiny probabilities: max abs %.3g" % worst)
rc, out, err = run(["score", "-m", BERT, "-i", P("pairs.jsonl"), "--raw-scores"])
rows = jsonl(out) if rc == 0 else []
worst = max([abs(r["scores"][k] - p["logits"][i]) for r, p in zip(rows, b["pairs"]) for i, k in enumerate(["contradiction", "entailment", "neutral"])] or [1])
check(rc == 0 and worst <= 1e-4, "bert-nli-tiny logits: max abs %.3g %s" % (worst, err))

write_jsonl(P("xpairs.jsonl"), [{"text": p["text"], "text_pair": p["text_pair"]} for p in x["pairs"]])
rc, out, err = run(["score", "-m", XLMR, "-i", P("xpairs.jsonl")])
rows = jsonl(out) if rc == 0 else []
check(rc == 0 and all(list(r.keys()) == ["score"] for r in rows) and len(rows) == len(x["pairs"]), "score one label shape: %s" % err)
worst = max([abs(r["score"] - p["score"]) for r, p in zip(rows, x["pairs"])] or [1])
check(worst <= 2e-3, "xlmr-reranker-tiny score: max abs %.3g" % worst)

write_jsonl(P("prompts.jsonl"), [{"text": p["text"]} for p in c["prompts"]])
rc, out, err = run(["score", "-m", QCL, "-i", P("prompts.jsonl")])
rows = jsonl(out) if rc == 0 else []
worst = max([abs(r["score"] - p["score"]) for r, p in zip(rows, c["prompts"])] or [1])
check(rc == 0 and len(rows) == len(c["prompts"]) and worst <= 2e-3, "qwen3-reranker-tiny score P(yes): %.3g %s" % (worst, err))

# --- index search --rerank: hits carry the reranker's scores, in its order
docs = ["The cat sleeps on the sofa.", "Die Katze schläft auf dem Sofa.", "I like green tea.", "Ich mag grünen Tee.",
        "Where is the railway station?"]
write_jsonl(P("idx.jsonl"), [{"text": d, "id": i} for i, d in enumerate(docs)])
rc, out, err = run(["index", "create", P("i.db"), "-m", EMBEDDER])
rc2, out2, err2 = run(["index", "add", P("i.db"), "-i", P("idx.jsonl")])
check(rc == 0 and rc2 == 0, "index create / add: %s %s" % (err, err2))
query = "green tea"
rc, out, err = run(["index", "search", P("i.db"), "-q", query, "-k", "3", "--rerank", XLMR])
res = jsonl(out) if rc == 0 else [{}]
hits = res[0].get("hits", [])
rc2, out2, err2 = run(["rerank", "-m", XLMR, "-q", query], stdin="\n".join(docs) + "\n")
want = {r["text"]: r["score"] for r in jsonl(out2)} if rc2 == 0 else {}
check(rc == 0 and len(hits) == 3, "index search --rerank: %s" % err)
check(all(abs(h["score"] - want.get(h["text"], 9)) <= 1e-5 for h in hits), "reranked hit scores = xling rerank's")
check([h["score"] for h in hits] == sorted([h["score"] for h in hits], reverse=True), "hits best first by the reranker")
check(all("retrieval_score" in h and h["id"] == docs.index(h["text"]) for h in hits), "hits keep ids and the cosine")
# all 5 documents reranked (--rerank-top 5): the top 3 are the reranker's top 3 overall
rc, out, err = run(["index", "search", P("i.db"), "-q", query, "-k", "3", "--rerank", XLMR, "--rerank-top", "5"])
hits = jsonl(out)[0]["hits"] if rc == 0 else []
best3 = [r["text"] for r in jsonl(out2)][:3]
check(rc == 0 and [h["text"] for h in hits] == best3, "--rerank-top 5: %r vs %r" % ([h.get("text") for h in hits], best3))

# --- errors
rc, out, err = run(["rerank", "-m", XLMR, "doc"])
check(one_line_error(rc, err, 2, "xling rerank", "-q"), "no query: %d %s" % (rc, err))
rc, out, err = run(["rerank", "-m", XLMR, "-q", "", "doc"])
check(one_line_error(rc, err, 2, "xling rerank", "non-empty"), "empty query: %d %s" % (rc, err))
rc, out, err = run(["rerank", "-q", "x", "doc"])
check(one_line_error(rc, err, 2, "xling rerank", "-m"), "no model: %d %s" % (rc, err))
rc, out, err = run(["rerank", "-m", NOHEAD, "-q", "x", "doc"])
check(one_line_error(rc, err, 1, "xling rerank", "no classification head") and out == "", "no head: %d %s" % (rc, err))
rc, out, err = run(["score", "-m", NOHEAD], stdin="a\n")
check(one_line_error(rc, err, 1, "xling score", "no classification head"), "score no head: %d %s" % (rc, err))
rc, out, err = run(["rerank", "-m", BERT, "-q", "x", "doc"])
check(one_line_error(rc, err, 1, "xling rerank", "3 labels", "xling score"), "rerank with 3 labels: %d %s" % (rc, err))
rc, out, err = run(["index", "search", P("i.db"), "-q", "x", "--rerank", NOHEAD])
check(one_line_error(rc, err, 1, "xling index search", "no classification head"), "index --rerank no head: %d %s" % (rc, err))
write_jsonl(P("bad_pair.jsonl"), [{"text": "formatted"}, {"text": "a", "text_pair": "b"}])
rc, out, err = run(["score", "-m", QCL, "-i", P("bad_pair.jsonl"), "-o", P("never.jsonl")])
check(one_line_error(rc, err, 1, "xling score", "bad_pair.jsonl line 2", "pair") and not os.path.exists(P("never.jsonl")),
      "pair on a decoder reranker: %d %s" % (rc, err))
with open(P("bad.jsonl"), "w") as f:
    f.write('{"text": "ok"}\n{"text": "broken"\n')
rc, out, err = run(["rerank", "-m", XLMR, "-q", "x", "-i", P("bad.jsonl")])
check(one_line_error(rc, err, 1, "xling rerank", "bad.jsonl line 2", "invalid JSON") and out == "", "invalid JSON line: %d %s" % (rc, err))
rc, out, err = run(["score", "-m", XLMR, "-i", P("bad.jsonl")])
check(one_line_error(rc, err, 1, "xling score", "bad.jsonl line 2", "invalid JSON"), "score invalid JSON: %d %s" % (rc, err))
rc, out, err = run(["rerank", "-m", XLMR, "-q", "x"], stdin="")
check(one_line_error(rc, err, 1, "xling rerank", "no documents"), "no documents: %d %s" % (rc, err))
write_jsonl(P("ids.jsonl"), [{"input_ids": [0, 5, 2]}])
rc, out, err = run(["rerank", "-m", XLMR, "-q", "x", "-i", P("ids.jsonl")])
check(one_line_error(rc, err, 1, "xling rerank", "input_ids"), "input_ids: %d %s" % (rc, err))
rc, out, err = run(["rerank", "-m", XLMR, "-q", "x", "--top-k", "0", "doc"])
check(one_line_error(rc, err, 2, "xling rerank", "--top-k"), "--top-k 0: %d %s" % (rc, err))
rc, out, err = run(["rerank", "-m", QCL, "-q", "x", "--max-length", "10", "doc"])
check(one_line_error(rc, err, 1, "xling rerank", "prompt"), "max-length below the prompt: %d %s" % (rc, err))
rc, out, err = run(["rerank", "--help"])
check(rc == 0 and "--top-k" in out and "--raw-scores" in out and "--instruct" in out, "rerank --help")
rc, out, err = run(["score", "--help"])
check(rc == 0 and "text_pair" in out and "--raw-scores" in out, "score --help")

shutil.rmtree(tmp, ignore_errors=True)
summary("test_rerank_cli")
