"""End-to-end tests of `xling serve` with the xlmr-tiny fixture model: the server runs on
127.0.0.1 with --port 0 (the port read from its "listening on" line); every endpoint's
values are compared with `xling embed` / `xling tokenize` on the same inputs (vectors:
absolute tolerance 1e-5; base64 decoded as little-endian float32), every error path
and status code in both APIs' shapes (400/413 OpenAI, 422/413 TEI, 401, 404, 405, 429,
503), a slow client that sends its body byte by byte while others are served, 32
concurrent clients with distinct inputs, idle and read timeouts, SIGTERM with requests
in flight (they complete, exit 0), /metrics as Prometheus text. Python standard library
only. Prints "test_serve: N passed, N failed, N skipped" last."""
import base64, http.client, json, os, re, shutil, signal, socket, struct, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import ROOT, XLING, FIX, SHARED_FIX, check, skip, summary, unit, run as cli  # noqa: E402

MODEL = os.path.join(FIX, "xlmr-tiny")
TOL = 1e-5
with open(os.path.join(MODEL, "config.json")) as f:
    HIDDEN = json.load(f)["hidden_size"]
T0 = time.time()


tmp = tempfile.mkdtemp(prefix="xl_serve_")


class Server:
    """An `xling serve` process; its stderr lines are collected by a thread."""

    def __init__(self, *args):
        model = [] if "-m" in args else ["-m", MODEL]
        self.p = subprocess.Popen([XLING, "serve"] + model + ["--port", "0"] + list(args),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        self.port = None
        ready = threading.Event()

        def drain():
            for raw in self.p.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self.t = threading.Thread(target=drain, daemon=True)
        self.t.start()
        ready.wait(30)

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.t.join(5)
        bad = [l for l in self.lines if "Sanitizer" in l or "runtime error" in l or "leak" in l.lower()]
        check(not bad, "server stderr free of sanitizer reports: %r" % bad[:5])
        for l in bad[:40]:
            print(l, file=sys.stderr)
        return rc


def request(srv, method, path, body=None, headers=None, conn=None):
    c = conn or srv.conn()
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body, ensure_ascii=False).encode()
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    try:
        j = json.loads(data) if data else None
    except ValueError:
        j = None
    return r.status, j, data, r


def post(srv, path, body, **kw):
    return request(srv, "POST", path, body, **kw)


def fixture_reference(folder):
    """A shared fixture's reference.json and its tolerance: 1e-4 for F32 weights, 2e-3 for F16 / BF16."""
    with open(os.path.join(folder, "reference.json")) as f:
        ref = json.load(f)
    return ref, (2e-3 if ref.get("stored_dtype", "F16") != "F32" else 1e-4)


def concurrently(fn, n, timeout=60):
    """fn(i) for i in range(n), each on its own thread, all at once."""
    ths = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(timeout)


def cli_embed(items, *args):
    """Vectors `xling embed` writes for JSONL items ({"text"} or {"input_ids"})."""
    path = os.path.join(tmp, "in.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it if isinstance(it, dict) else {"text": it}, ensure_ascii=False) + "\n")
    rc, out, err = cli(["embed", "-m", MODEL, "-i", path] + list(args))
    if rc != 0:
        print("cli embed failed:", err, file=sys.stderr)
        return []
    return [json.loads(l)["embedding"] for l in out.splitlines() if l.strip()]


def close(a, b, tol=TOL):
    return a is not None and b is not None and len(a) == len(b) and all(
        x is not None and abs(x - y) <= tol for x, y in zip(a, b))


def all_close(A, B, tol=TOL):
    return A is not None and B is not None and len(A) == len(B) and all(close(a, b, tol) for a, b in zip(A, B))


def openai_err(j, status_code, st, want_status, code=None):
    e = (j or {}).get("error") if isinstance(j, dict) else None
    return (st == want_status and isinstance(e, dict) and isinstance(e.get("message"), str) and e.get("message")
            and isinstance(e.get("type"), str) and "param" in e and "code" in e and (code is None or e["code"] == code))


def tei_err(j, st, want_status, etype=None):
    return (st == want_status and isinstance(j, dict) and isinstance(j.get("error"), str) and j["error"]
            and isinstance(j.get("error_type"), str) and (etype is None or j["error_type"] == etype))


texts = ["The cat sleeps on the sofa.", "Die Katze schläft auf dem Sofa.", "", "猫はソファで寝ている。",
         "quotes \" and \\ backslash\nnewline"]
long_text = " ".join(["word%d" % i for i in range(700)])  # far beyond 512 tokens

S = Server("--max-body-bytes", "65536", "--log-format", "json")
if not check(S.port, "server started: %s" % S.lines):
    summary("test_serve")

ref = cli_embed(texts)
check(len(ref) == len(texts), "xling embed reference vectors")

# ---------------------------------------------------------------- OpenAI API
st, j, _, r = post(S, "/v1/embeddings", {"input": texts, "model": "xlmr-tiny", "user": "someone"})
ok = st == 200 and j["object"] == "list" and j["model"] == "xlmr-tiny" and [d["index"] for d in j["data"]] == list(range(len(texts)))
check(ok and all(d["object"] == "embedding" for d in j["data"]), "openai: shape %s %r" % (st, j and str(j)[:200]))
check(ok and all_close([d["embedding"] for d in j["data"]], ref), "openai: float vectors = xling embed")
check(r.getheader("Content-Type") == "application/json", "openai: content type")
# usage: the tokens of every input, as xling tokenize counts them
rc, out, _ = cli(["tokenize", "-m", MODEL, "-i", os.path.join(tmp, "in.jsonl")])
n_tok = sum(len(json.loads(l)["ids"]) for l in out.splitlines())
check(ok and j["usage"]["prompt_tokens"] == j["usage"]["total_tokens"] == n_tok, "openai: usage %r, %d tokens" % (j and j.get("usage"), n_tok))

st, j, _, _ = post(S, "/v1/embeddings", {"input": texts[0], "encoding_format": "base64"})
if check(st == 200 and isinstance(j["data"][0]["embedding"], str), "openai: base64 is a string"):
    raw = base64.b64decode(j["data"][0]["embedding"])
    check(close(list(struct.unpack("<%df" % (len(raw) // 4), raw)), ref[0]), "openai: base64 = xling embed")
st, j, _, _ = post(S, "/v1/embeddings", {"input": texts, "encoding_format": "float"})
check(st == 200 and all_close([d["embedding"] for d in j["data"]], ref), "openai: encoding_format float")

# Matryoshka dimensions: cut then renormalised, as xling embed --dim
ref8 = cli_embed(texts[:2], "--dim", "8")
st, j, _, _ = post(S, "/v1/embeddings", {"input": texts[:2], "dimensions": 8})
check(st == 200 and all_close([d["embedding"] for d in j["data"]], ref8), "openai: dimensions 8 = xling embed --dim 8")
st, j, _, _ = post(S, "/v1/embeddings", {"input": texts[:1], "dimensions": 8, "encoding_format": "base64"})
if check(st == 200, "openai: dimensions + base64"):
    raw = base64.b64decode(j["data"][0]["embedding"])
    check(len(raw) == 32 and close(list(struct.unpack("<8f", raw)), ref8[0]), "openai: base64 of 8 dimensions")

# token ids: one list, and a list of lists (as given, no special tokens added)
ids = [[0, 33600, 31, 8999, 2], [0, 581, 2]]
ref_ids = cli_embed([{"input_ids": x} for x in ids])
st, j, _, _ = post(S, "/v1/embeddings", {"input": ids[0]})
check(st == 200 and close(j["data"][0]["embedding"], ref_ids[0]), "openai: one id list = xling embed input_ids")
st, j, _, _ = post(S, "/v1/embeddings", {"input": ids})
check(st == 200 and all_close([d["embedding"] for d in j["data"]], ref_ids) and j["usage"]["prompt_tokens"] == 8,
      "openai: lists of ids")

# OpenAI errors
st, j, _, _ = post(S, "/v1/embeddings", {"input": "x", "model": "other-model"})
check(openai_err(j, 404, st, 404, "model_not_found"), "openai: unknown model 404 model_not_found: %s %r" % (st, j))
st, j, _, _ = post(S, "/v1/embeddings", "{not json")
check(openai_err(j, 400, st, 400) and j["error"]["type"] == "invalid_request_error", "openai: malformed JSON 400 %r" % j)
for body, what in [({"input": 5}, "number"), ({"input": ["a", 5]}, "mixed list"), ({"input": [[1, 2], "a"]}, "mixed ids"),
                   ({"input": [1.5]}, "float ids"), ({}, "no input"), ([1, 2], "not an object"),
                   ({"input": "a", "model": 3}, "model not a string"),
                   ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
                   ({"input": "a", "dimensions": 0}, "dimensions 0"), ({"input": "a", "dimensions": 17}, "dimensions > dim"),
                   ({"input": "a", "dimensions": "8"}, "dimensions string"), ({"input": [[0, 10 ** 9, 2]]}, "id out of vocabulary"),
                   ({"input": [[0, 2 ** 40]]}, "id beyond int32")]:
    st, j, _, _ = post(S, "/v1/embeddings", body)
    check(openai_err(j, 400, st, 400), "openai: %s -> 400: %s %r" % (what, st, j))
st, j, _, _ = post(S, "/v1/embeddings", {"input": []})
check(openai_err(j, 400, st, 400) and j["error"]["param"] == "input", "openai: empty list 400 %r" % j)
st, j, _, _ = post(S, "/v1/embeddings", {"input": ["a"] * 33})
check(openai_err(j, 413, st, 413), "openai: 33 inputs > --max-client-batch-size 32 -> 413 %s %r" % (st, j))
st, j, _, _ = post(S, "/v1/embeddings", {"input": long_text})
check(openai_err(j, 413, st, 413) and "512" in j["error"]["message"], "openai: input too long -> 413 %s %r" % (st, j))
st, j, _, _ = post(S, "/v1/embeddings", {"input": "x" * 70000})
check(openai_err(j, 413, st, 413, "payload_too_large"), "openai: body > --max-body-bytes -> 413 %s %r" % (st, j))
st, j, _, _ = request(S, "GET", "/v1/embeddings")
check(openai_err(j, 405, st, 405), "openai: GET -> 405 %s" % st)
st, j, _, _ = request(S, "POST", "/v1/nothing", {"input": "a"})
check(openai_err(j, 404, st, 404), "openai: unknown /v1 path -> 404 in OpenAI's shape %s %r" % (st, j))
# an empty string is a valid input
st, j, _, _ = post(S, "/v1/embeddings", {"input": ""})
check(st == 200 and close(j["data"][0]["embedding"], ref[2]), "openai: empty string embedded as the CLI does")

# /v1/models: the served model, as OpenAI lists models
t_before = int(time.time())
st, j, _, _ = request(S, "GET", "/v1/models")
check(st == 200 and j["object"] == "list" and len(j["data"]) == 1 and j["data"][0]["id"] == "xlmr-tiny"
      and j["data"][0]["object"] == "model" and isinstance(j["data"][0]["created"], int)
      and 0 < j["data"][0]["created"] <= t_before + 1 and j["data"][0]["owned_by"] == "xling",
      "openai /v1/models lists the served model %r" % j)
st, j2, _, _ = request(S, "GET", "/v1/models/xlmr-tiny")
check(st == 200 and j and j2 == j["data"][0], "openai /v1/models/{id}: the model object %r" % j2)
st, j, _, _ = request(S, "GET", "/v1/models/other-model")
check(openai_err(j, 404, st, 404, "model_not_found"), "openai /v1/models/{unknown} -> 404 model_not_found %s %r" % (st, j))
st, j, _, _ = post(S, "/v1/models", {})
check(openai_err(j, 405, st, 405), "openai POST /v1/models -> 405 %s" % st)

# ---------------------------------------------------------------- TEI API
st, j, _, _ = post(S, "/embed", {"inputs": texts})
check(st == 200 and all_close(j, ref), "tei /embed: list = xling embed")
st, j, _, _ = post(S, "/embed", {"inputs": texts[1]})
check(st == 200 and len(j) == 1 and close(j[0], ref[1]), "tei /embed: one string -> [[...]]")
refq = cli_embed(texts[:2], "--prompt", "query")
st, j, _, _ = post(S, "/embed", {"inputs": texts[:2], "prompt_name": "query"})
check(st == 200 and all_close(j, refq), "tei /embed: prompt_name query = xling embed --prompt query")
refnn = cli_embed(texts[:2], "--no-normalize")
st, j, _, _ = post(S, "/embed", {"inputs": texts[:2], "normalize": False})
check(st == 200 and all_close(j, refnn), "tei /embed: normalize false = xling embed --no-normalize")
st, j, _, _ = post(S, "/embed", {"inputs": texts[:2], "dimensions": 8})
check(st == 200 and all_close(j, ref8), "tei /embed: dimensions 8 = xling embed --dim 8")
refnn8 = cli_embed(texts[:2], "--no-normalize", "--dim", "8")
st, j, _, _ = post(S, "/embed", {"inputs": texts[:2], "dimensions": 8, "normalize": False})
check(st == 200 and all_close(j, refnn8), "tei /embed: dimensions 8, normalize false = xling embed --no-normalize --dim 8")
# truncation: off by default (422), on with truncate: true (as xling embed's default cut)
st, j, _, _ = post(S, "/embed", {"inputs": [texts[0], long_text]})
check(tei_err(j, st, 422, "Validation") and "input 1" in j["error"], "tei: too long -> 422 %s %r" % (st, j))
ref_long = cli_embed([long_text])
st, j, _, _ = post(S, "/embed", {"inputs": long_text, "truncate": True})
check(st == 200 and close(j[0], ref_long[0]), "tei: truncate true = xling embed's truncation to 512")
# Left: the end of the text is kept, the special tokens too
rc, out, _ = cli(["tokenize", "-m", MODEL, long_text])
full_ids = json.loads(out)["ids"] if rc == 0 else [0, 2]
left_ids = [full_ids[0]] + full_ids[len(full_ids) - 511:]
ref_left = cli_embed([{"input_ids": left_ids}])
st, j, _, _ = post(S, "/embed", {"inputs": long_text, "truncate": True, "truncation_direction": "Left"})
check(st == 200 and ref_left and close(j[0], ref_left[0]) and not close(j[0], ref_long[0]),
      "tei: truncation_direction Left = xling embed of <s> + the last 511 ids")
st, j, _, _ = post(S, "/embed", {"inputs": texts[0], "truncation_direction": "Left"})
check(st == 200 and close(j[0], ref[0]), "tei: Left on a short input changes nothing")

# /embed_all: every token's last hidden state; their mean, normalised, is the mean-pooled vector
st, j, _, _ = post(S, "/embed_all", {"inputs": texts[:2]})
if check(st == 200 and len(j) == 2 and all(len(tok) == HIDDEN for seq in j for tok in seq), "tei /embed_all: shape %s" % st):
    rc, out, _ = cli(["tokenize", "-m", MODEL] + texts[:2])
    lens = [len(json.loads(l)["ids"]) for l in out.splitlines()]
    check([len(seq) for seq in j] == lens, "tei /embed_all: one vector per token %r %r" % ([len(s) for s in j], lens))
    means = [unit([sum(tok[k] for tok in seq) / len(seq) for k in range(HIDDEN)]) for seq in j]
    check(all_close(means, ref[:2], 1e-4), "tei /embed_all: normalised mean of the tokens = the embedding")

# token ids (TEI's pre-tokenized inputs): used as given, as xling embed's input_ids
st, j, _, _ = post(S, "/embed", {"inputs": ids})
check(st == 200 and all_close(j, ref_ids), "tei /embed: lists of ids = xling embed input_ids %s" % st)
st, j, _, _ = post(S, "/embed", {"inputs": ids[0], "dimensions": 8})
ref_ids8 = cli_embed([{"input_ids": ids[0]}], "--dim", "8")
check(st == 200 and len(j) == 1 and close(j[0], ref_ids8[0]), "tei /embed: one id list, dimensions 8 = xling embed --dim 8")
st, j, _, _ = post(S, "/embed_all", {"inputs": ids})
check(st == 200 and [len(seq) for seq in j] == [len(x) for x in ids], "tei /embed_all: ids, one vector per id %s" % st)
long_ids = [0] + [581] * 600 + [2]
st, j, _, _ = post(S, "/embed", {"inputs": [long_ids]})
check(tei_err(j, st, 422, "Validation"), "tei /embed: 602 ids without truncate -> 422 %s %r" % (st, j))
st, j, _, _ = post(S, "/embed", {"inputs": [long_ids], "truncate": True})
ref_long_ids = cli_embed([{"input_ids": long_ids}])
check(st == 200 and close(j[0], ref_long_ids[0]), "tei /embed: ids with truncate = xling embed's cut")
for body, what in [({"inputs": ids, "prompt_name": "query"}, "prompt_name with ids"),
                   ({"inputs": [[0, 10 ** 9, 2]]}, "id out of vocabulary"), ({"inputs": [[0, -1, 2]]}, "negative id"),
                   ({"inputs": [[0, 1.5]]}, "float id"), ({"inputs": [[1, 2], "a"]}, "ids mixed with text")]:
    st, j, _, _ = post(S, "/embed", body)
    check(tei_err(j, st, 422, "Validation"), "tei /embed: %s -> 422 %s %r" % (what, st, j))
st, j, _, _ = post(S, "/tokenize", {"inputs": ids})
check(tei_err(j, st, 422, "Validation"), "tei /tokenize takes text, not ids -> 422 %s %r" % (st, j))

# /similarity: cosine of the source with each sentence, as the CLI's vectors give it
st, j, _, _ = post(S, "/similarity", {"inputs": {"source_sentence": texts[0], "sentences": texts[1:4]}})
want = [sum(a * b for a, b in zip(ref[0], ref[k])) for k in (1, 2, 3)]
check(st == 200 and close(j, want, 1e-5), "tei /similarity = cosines of xling embed vectors %r %r" % (j, want))
st, j, _, _ = post(S, "/similarity", {"inputs": {"source_sentence": texts[0], "sentences": [texts[1]]},
                                      "parameters": {"prompt_name": "query"}})
want = sum(a * b for a, b in zip(refq[0], refq[1]))
check(st == 200 and close(j, [want]), "tei /similarity with parameters.prompt_name")

# /tokenize: ids and special flags as xling tokenize; start/stop byte offsets
st, j, _, _ = post(S, "/tokenize", {"inputs": [texts[0], texts[1]]})
rc, out, _ = cli(["tokenize", "-m", MODEL, texts[0], texts[1]])
want_ids = [json.loads(l)["ids"] for l in out.splitlines()]
check(st == 200 and [[t["id"] for t in seq] for seq in j] == want_ids, "tei /tokenize: ids = xling tokenize")
check(st == 200 and all(t["special"] == (k in (0, len(seq) - 1)) for seq in j for k, t in enumerate(seq)),
      "tei /tokenize: special flags")
check(st == 200 and all(t["start"] is None and t["stop"] is None and t["text"] in ("<s>", "</s>") for seq in j for t in seq if t["special"]),
      "tei /tokenize: special tokens: token text, null offsets")
st, j, _, _ = post(S, "/tokenize", {"inputs": texts[0], "add_special_tokens": False})
check(st == 200 and [t["id"] for t in j[0]] == want_ids[0][1:-1], "tei /tokenize: add_special_tokens false")
st, j, _, _ = post(S, "/tokenize", {"inputs": "x", "prompt_name": "query"})
rc, out, _ = cli(["tokenize", "-m", MODEL, "query: x"])
check(st == 200 and [t["id"] for t in j[0]] == json.loads(out)["ids"], "tei /tokenize: prompt_name prepends the prompt")

# offsets: the tokenizers crate's for the same XLM-R tokenizer (tests/data/tokenizer_offsets,
# made by gen.js); TEI gives null for the special tokens and the input's bytes as text
odir = os.path.join(ROOT, "tests", "data", "tokenizer_offsets")
with open(os.path.join(odir, "corpus.jsonl"), encoding="utf-8") as f:
    corpus = {d["id"]: d["text"] for d in map(json.loads, f) if "text" in d}  # (not the invalid-UTF-8 lines)
with open(os.path.join(odir, "xlmr-unigram.jsonl")) as f:
    oref = [r for r in map(json.loads, f) if r["id"] in corpus][:64]
bad_off = []
for k in range(0, len(oref), 32):
    chunk = oref[k:k + 32]
    st, j, _, _ = post(S, "/tokenize", {"inputs": [corpus[r["id"]] for r in chunk]})
    for r, toks in zip(chunk, j if st == 200 else [None] * len(chunk)):
        raw = corpus[r["id"]].encode("utf-8")
        want = [(None, None) if (t["special"] if toks else False) else (r["offsets"][2 * i], r["offsets"][2 * i + 1])
                for i, t in enumerate(toks or [])]
        got = [(t["start"], t["stop"]) for t in toks or []]
        texts_ok = all(t["text"] == raw[t["start"]:t["stop"]].decode("utf-8", "replace") for t in toks or [] if not t["special"])
        if not toks or len(toks) != len(r["offsets"]) // 2 or got != want or not texts_ok:
            bad_off.append(r["id"])
check(not bad_off and len(oref) == 64, "tei /tokenize: start/stop = the tokenizers crate's offsets on 64 corpus lines (bad: %r)" % bad_off[:5])
st, j, _, _ = post(S, "/tokenize", {"inputs": "x", "prompt_name": "query"})
check(st == 200 and [(t["text"], t["start"], t["stop"]) for t in j[0] if not t["special"]][-1] == (" x", 6, 8),
      "tei /tokenize: offsets count in the prompted input %r" % j)

# TEI errors
for path in ("/embed", "/embed_all", "/tokenize"):
    st, j, _, _ = post(S, path, "[not json")
    check(tei_err(j, st, 422), "tei %s: malformed JSON -> 422 %s %r" % (path, st, j))
    st, j, _, _ = post(S, path, {"inputs": 7})
    check(tei_err(j, st, 422, "Validation"), "tei %s: inputs a number -> 422 %s %r" % (path, st, j))
    st, j, _, _ = post(S, path, {"inputs": []})
    check(tei_err(j, st, 422), "tei %s: empty list -> 422 %s %r" % (path, st, j))
    st, j, _, _ = post(S, path, {"inputs": ["a"] * 33})
    check(tei_err(j, st, 422, "Validation"), "tei %s: 33 inputs -> 422 %s" % (path, st))
    st, j, _, _ = post(S, path, {"inputs": "x" * 70000})
    check(tei_err(j, st, 413), "tei %s: body too large -> 413 %s %r" % (path, st, j))
for body, what in [({"inputs": "a", "normalize": "yes"}, "normalize a string"),
                   ({"inputs": "a", "truncate": 1}, "truncate a number"),
                   ({"inputs": "a", "truncation_direction": "Up"}, "truncation_direction"),
                   ({"inputs": "a", "prompt_name": "nope"}, "unknown prompt_name"),
                   ({"inputs": "a", "dimensions": 99}, "dimensions > dim"), ({"input": "a"}, "no inputs")]:
    st, j, _, _ = post(S, "/embed", body)
    check(tei_err(j, st, 422, "Validation"), "tei /embed: %s -> 422 %s %r" % (what, st, j))
for body in [{"inputs": {"source_sentence": "a"}}, {"inputs": {"source_sentence": "a", "sentences": []}},
             {"inputs": {"source_sentence": 1, "sentences": ["b"]}}, {"inputs": {"source_sentence": "a", "sentences": ["b", 2]}}]:
    st, j, _, _ = post(S, "/similarity", body)
    check(tei_err(j, st, 422), "tei /similarity: %r -> 422 %s %r" % (body, st, j))


def chunked(srv, path, parts):
    c = srv.conn()
    c.request("POST", path, body=iter(parts), headers={"Content-Type": "application/json"}, encode_chunked=True)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data)


st, j = chunked(S, "/embed", [b'{"inputs": "', texts[0].encode(), b'"}'])
check(st == 200 and close(j[0], ref[0]), "tei: a chunked body (no Content-Length) works")
st, j = chunked(S, "/embed", [b'{"inputs": "'] + [b"x" * 10000] * 7 + [b'"}'])
check(tei_err(j, st, 413), "tei: a chunked body over --max-body-bytes -> 413 %s %r" % (st, j))
st, j, _, _ = request(S, "GET", "/nothing")
check(tei_err(j, st, 404), "tei: unknown path -> 404 %s %r" % (st, j))
st, j, _, r = request(S, "PUT", "/embed", {"inputs": "a"})
check(tei_err(j, st, 405) and r.getheader("Allow") == "POST", "tei: PUT /embed -> 405 with Allow %s" % st)
st, j, _, _ = request(S, "POST", "/info")
check(tei_err(j, st, 405), "tei: POST /info -> 405")

st, j, _, _ = post(S, "/predict", {"inputs": "a"})
check(tei_err(j, st, 424, "Backend") and "classifier" in j["error"], "tei /predict on an embedding model -> 424 %s %r" % (st, j))
st, j, _, _ = post(S, "/embed_sparse", {"inputs": "a"})
check(tei_err(j, st, 424, "Backend"), "tei /embed_sparse without a sparse head -> 424 %s %r" % (st, j))
# reranking routes on an embedding model
st, j, _, _ = post(S, "/rerank", {"query": "a", "texts": ["b"]})
check(tei_err(j, st, 424, "Backend"), "tei /rerank on an embedding model -> 424 as TEI %s %r" % (st, j))
st, j, _, _ = post(S, "/v1/rerank", {"query": "a", "documents": ["b"]})
check(openai_err(j, 400, st, 400, "model_not_reranker"), "/v1/rerank on an embedding model -> 400 %s %r" % (st, j))

# /info, /health
st, j, _, _ = request(S, "GET", "/info")
check(st == 200 and j.get("model_id") == "xlmr-tiny" and j.get("max_input_length") == 512 and j.get("max_batch_tokens") == 16384
      and j.get("max_client_batch_size") == 32 and j.get("max_concurrent_requests") == 512 and "model_dtype" in j
      and "embedding" in j.get("model_type", {}) and isinstance(j.get("tokenization_workers"), int) and j.get("version"),
      "/info fields %r" % j)
st, _, data, _ = request(S, "GET", "/health")
check(st == 200, "/health 200")

# ---------------------------------------------------------------- concurrency
# 32 clients at once, each its own input: each gets its own vector
conc = ["sentence number %d about %s" % (i, w) for i, w in enumerate(["cats", "dogs", "tea", "trains"] * 8)]
ref_c = cli_embed(conc)
res = [None] * 32


def worker(i):
    try:
        if i % 2:
            st, j, _, _ = post(S, "/embed", {"inputs": conc[i]})
            res[i] = j[0] if st == 200 else None
        else:
            st, j, _, _ = post(S, "/v1/embeddings", {"input": [conc[i]]})
            res[i] = j["data"][0]["embedding"] if st == 200 else None
    except Exception as e:  # noqa
        res[i] = repr(e)


concurrently(worker, 32)
check(all(close(res[i], ref_c[i]) for i in range(32)), "32 concurrent clients get their own vectors: %r" %
      [i for i in range(32) if not close(res[i], ref_c[i])])

# a slow client (body byte by byte) does not hold up the others
body = json.dumps({"inputs": texts[0]}).encode()
slow = socket.create_connection(("127.0.0.1", S.port), timeout=30)
slow.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
slow_done = threading.Event()


def trickle():
    for k in range(len(body)):
        slow.sendall(body[k:k + 1])
        time.sleep(0.05)
    slow_done.set()


tt = threading.Thread(target=trickle)
tt.start()
time.sleep(0.1)
fast = []
for k in range(5):
    t1 = time.time()
    st, j, _, _ = post(S, "/embed", {"inputs": texts[1]})
    fast.append((st, time.time() - t1, not slow_done.is_set()))
# (the body takes ~1.5 s to arrive; a loaded machine may slow the others, not stop them)
check(all(s == 200 and dt < 2.0 for s, dt, _ in fast) and sum(d for _, _, d in fast) >= 3,
      "others served while a slow body arrives: %r" % fast)
tt.join(30)
data = b""
while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(re.search(rb"Content-Length: (\d+)", data).group(1) if re.search(rb"Content-Length: (\d+)", data) else 1 << 30):
    chunk = slow.recv(65536)
    if not chunk:
        break
    data += chunk
slow.close()
head, _, payload = data.partition(b"\r\n\r\n")
check(head.startswith(b"HTTP/1.1 200") and close(json.loads(payload)[0], ref[0]), "the slow client gets its vector: %r" % head[:40])

# ---------------------------------------------------------------- metrics and log
st, _, data, r = request(S, "GET", "/metrics")
text = data.decode()
line_re = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? -?[0-9.eE+-]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*\{le="\+Inf"\} [0-9]+$')
bad = [l for l in text.splitlines() if l and not l.startswith("#") and not line_re.match(l)]
check(st == 200 and r.getheader("Content-Type", "").startswith("text/plain") and not bad, "/metrics is Prometheus text: %r" % bad[:3])
vals = {}
for l in text.splitlines():
    if l and not l.startswith("#"):
        k, v = l.rsplit(" ", 1)
        vals[k] = float(v)
check(vals.get('xling_requests_total{endpoint="/embed",status="200"}', 0) >= 20, "/metrics counts /embed 200s")
check(vals.get('xling_requests_total{endpoint="/v1/embeddings",status="413"}', 0) >= 3, "/metrics counts 413s")
check(vals.get("xling_input_tokens_total", 0) > 100 and vals.get("xling_batch_tokens_count", 0) >= 1
      and vals.get("xling_queue_duration_seconds_count", 0) >= 1 and "xling_queue_depth" in vals
      and vals.get("xling_inference_duration_seconds_count", 0) >= 1 and vals.get("xling_request_duration_seconds_count", 0) >= 1
      and "xling_batch_requests_count" in vals, "/metrics has tokens, queue, batch and latency series")
for name in ("xling_queue_duration_seconds", "xling_batch_tokens", "xling_request_duration_seconds"):
    b = [v for k, v in vals.items() if k.startswith(name + "_bucket")]
    check(b == sorted(b) and b[-1] == vals[name + "_count"], "%s buckets are cumulative" % name)
logs = [json.loads(l) for l in S.lines if l.startswith("{")]
check(any(x.get("method") == "POST" and x.get("path") == "/embed" and x.get("status") == 200 and x.get("tokens", 0) > 0
          and isinstance(x.get("ms"), float) for x in logs), "JSON request log lines")
check(any(x.get("status") == 413 for x in logs) and any(x.get("status") == 404 for x in logs), "errors are logged")
rc = S.stop()
check(rc == 0 and "stopped" in S.lines[-1], "SIGTERM on an idle server: exit 0 (%s) %r" % (rc, S.lines[-2:]))

# ---------------------------------------------------------------- API key
keyfile = os.path.join(tmp, "key")
with open(keyfile, "w") as f:
    f.write("s3cret-key\n")
K = Server("--api-key-file", keyfile, "--log-format", "none")
st, j, _, r = post(K, "/embed", {"inputs": "a"})
check(tei_err(j, st, 401) and r.getheader("WWW-Authenticate") == "Bearer", "key: none -> 401 %s %r" % (st, j))
st, j, _, _ = post(K, "/v1/embeddings", {"input": "a"}, headers={"Authorization": "Bearer wrong"})
check(openai_err(j, 401, st, 401, "invalid_api_key"), "key: wrong -> 401 in OpenAI's shape %r" % j)
st, j, _, _ = post(K, "/v1/embeddings", {"input": "a"}, headers={"Authorization": "Bearer s3cret-ke"})
check(st == 401, "key: a prefix of the key -> 401")
st, j, _, _ = post(K, "/v1/embeddings", {"input": texts[0]}, headers={"Authorization": "Bearer s3cret-key"})
check(st == 200 and close(j["data"][0]["embedding"], ref[0]), "key: right key -> 200")
st, _, _, _ = request(K, "GET", "/health")
check(st == 200, "key: /health needs no key")
st, _, _, _ = request(K, "GET", "/metrics")
check(st == 401, "key: /metrics needs the key")
st, j, _, _ = request(K, "GET", "/v1/models")
check(openai_err(j, 401, st, 401, "invalid_api_key"), "key: /v1/models needs the key %s" % st)
check(K.stop() == 0, "key server exit 0")

# --cors-allow-origin: browser pages of the listed origins may call the API
Q = Server("--cors-allow-origin", "https://app.example,http://localhost:3000", "--api-key", "s3cret-key",
           "--log-format", "none")
pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
       "Access-Control-Request-Headers": "authorization,content-type"}
st, _, data, r = request(Q, "OPTIONS", "/embed", headers=pre)
check(st == 204 and data == b"" and r.getheader("Access-Control-Allow-Origin") == "https://app.example"
      and r.getheader("Vary") == "Origin" and r.getheader("Access-Control-Allow-Methods") == "POST, OPTIONS"
      and "Authorization" in (r.getheader("Access-Control-Allow-Headers") or "")
      and r.getheader("Access-Control-Max-Age") == "600",
      "cors: preflight of a listed origin -> 204 with the CORS headers, no key needed: %s %r" % (st, r.getheaders()))
st, _, _, r = request(Q, "OPTIONS", "/info", headers=dict(pre, **{"Access-Control-Request-Method": "GET"}))
check(st == 204 and r.getheader("Access-Control-Allow-Methods") == "GET, OPTIONS", "cors: preflight of a GET route")
st, j, _, r = post(Q, "/embed", {"inputs": texts[0]}, headers={"Origin": "http://localhost:3000",
                                                               "Authorization": "Bearer s3cret-key"})
check(st == 200 and close(j[0], ref[0]) and r.getheader("Access-Control-Allow-Origin") == "http://localhost:3000"
      and r.getheader("Access-Control-Allow-Methods") is None, "cors: the request itself carries Allow-Origin")
st, j, _, r = post(Q, "/embed", {"inputs": "a"}, headers={"Origin": "https://app.example"})
check(st == 401 and r.getheader("Access-Control-Allow-Origin") == "https://app.example",
      "cors: a 401 carries Allow-Origin too, so the page can read the error")
st, _, _, r = request(Q, "OPTIONS", "/embed", headers=dict(pre, Origin="https://evil.example"))
check(st == 204 and r.getheader("Access-Control-Allow-Origin") is None, "cors: an unlisted origin gets no CORS headers")
st, j, _, r = post(Q, "/embed", {"inputs": "a"}, headers={"Origin": "https://evil.example", "Authorization": "Bearer s3cret-key"})
check(st == 200 and r.getheader("Access-Control-Allow-Origin") is None, "cors: nor does its request (the browser blocks it)")
st, j, _, _ = request(Q, "OPTIONS", "/nothing", headers=pre)
check(tei_err(j, st, 404), "cors: preflight of an unknown path -> 404")
check(Q.stop() == 0, "cors server exit 0")
Q = Server("--cors-allow-origin", "*", "--log-format", "none")
st, _, _, r = post(Q, "/v1/embeddings", {"input": "a"}, headers={"Origin": "https://any.example"})
check(st == 200 and r.getheader("Access-Control-Allow-Origin") == "*" and r.getheader("Vary") is None,
      "cors *: any origin")
st, _, _, r = post(Q, "/v1/embeddings", {"input": "a"})
check(st == 200 and r.getheader("Access-Control-Allow-Origin") is None, "cors *: no Origin, no CORS headers")
check(Q.stop() == 0, "cors * server exit 0")

# --served-model-name: what requests' "model" must match, what replies, /info and /v1/models say
N = Server("--served-model-name", "my-org/xlmr", "--log-format", "none")
st, j, _, _ = post(N, "/v1/embeddings", {"input": texts[0], "model": "my-org/xlmr"})
check(st == 200 and j["model"] == "my-org/xlmr" and close(j["data"][0]["embedding"], ref[0]),
      "--served-model-name: the name is accepted and replied %s" % st)
st, j, _, _ = post(N, "/v1/embeddings", {"input": texts[0], "model": "xlmr-tiny"})
check(openai_err(j, 404, st, 404, "model_not_found"), "--served-model-name: the folder name is not the model any more")
st, j, _, _ = request(N, "GET", "/v1/models/my-org/xlmr")
check(st == 200 and j["id"] == "my-org/xlmr", "--served-model-name: /v1/models/ORG/NAME %s %r" % (st, j))
st, j, _, _ = request(N, "GET", "/info")
check(st == 200 and j["model_id"] == "my-org/xlmr", "--served-model-name: /info model_id")
# without --cors-allow-origin: no CORS headers, OPTIONS is not a method of the routes
st, j, _, r = request(N, "OPTIONS", "/embed", headers=pre)
check(tei_err(j, st, 405) and r.getheader("Access-Control-Allow-Origin") is None, "no cors: OPTIONS -> 405 %s" % st)
st, _, _, r = post(N, "/embed", {"inputs": "a"}, headers={"Origin": "https://app.example"})
check(st == 200 and r.getheader("Access-Control-Allow-Origin") is None, "no cors: no Allow-Origin")
check(N.stop() == 0, "named server exit 0")

# ---------------------------------------------------------------- 429, idle and read timeouts
L = Server("--max-concurrent-requests", "1", "--idle-timeout", "1", "--read-timeout", "2", "--auto-truncate",
           "--max-input-tokens", "16")
hold = socket.create_connection(("127.0.0.1", L.port), timeout=30)
body = json.dumps({"inputs": long_text}).encode()
hold.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
time.sleep(0.2)
st, j, _, _ = post(L, "/embed", {"inputs": "a"})
check(tei_err(j, st, 429, "Overloaded"), "429 while the only slot is held: %s %r" % (st, j))
st, j, _, _ = post(L, "/v1/embeddings", {"input": "a"})
check(openai_err(j, 429, st, 429, "rate_limit_exceeded"), "429 in OpenAI's shape %r" % j)
st, _, _, _ = request(L, "GET", "/health")
check(st == 200, "/health is served while the slot is held")
hold.sendall(body[10:])
data = b""
while True:
    chunk = hold.recv(65536)
    if not chunk or (b"\r\n\r\n" in data + chunk and (data + chunk).endswith(b"]]")):
        data += chunk
        break
    data += chunk
hold.close()
# --auto-truncate --max-input-tokens 16: the cut of xling embed --max-length 16
ref16 = cli_embed([long_text], "--max-length", "16")
payload = data.partition(b"\r\n\r\n")[2]
check(data.startswith(b"HTTP/1.1 200") and ref16 and close(json.loads(payload)[0], ref16[0]),
      "--auto-truncate --max-input-tokens 16 = xling embed --max-length 16: %r" % data[:30])
st, j, _, _ = post(L, "/embed", {"inputs": "a"})
check(st == 200, "the slot is free again as soon as the reply is in: %s %r" % (st, j))
st, j, _, _ = post(L, "/embed", {"inputs": long_text, "truncate": False})
check(tei_err(j, st, 422), "truncate: false overrides --auto-truncate: %s %r" % (st, j))
# idle: a connection that sends half its headers is closed after --idle-timeout
idle = socket.create_connection(("127.0.0.1", L.port), timeout=10)
idle.sendall(b"POST /embed HTTP/1.1\r\nHost")
t1 = time.time()
try:
    got = idle.recv(100)
except OSError:
    got = b""
check(got == b"" and time.time() - t1 < 5, "idle connection closed after --idle-timeout 1 (%.1f s)" % (time.time() - t1))
idle.close()
# read: a body that trickles for longer than --read-timeout is dropped
rd = socket.create_connection(("127.0.0.1", L.port), timeout=10)
body = json.dumps({"inputs": "abc"}).encode()
rd.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
t1 = time.time()
closed = False
for k in range(len(body)):
    try:
        rd.sendall(body[k:k + 1])
    except OSError:
        closed = True
        break
    time.sleep(0.4)
    if time.time() - t1 > 4:
        break
try:
    rest = rd.recv(100)
except OSError:
    rest = b""
check((closed or rest == b"") and time.time() - t1 < 6, "slow body dropped after --read-timeout 2 (%.1f s, %r)" % (time.time() - t1, rest[:20]))
rd.close()
check(any(" 408 " in l for l in L.lines), "the dropped request is logged as 408")
check(L.stop(signal.SIGINT) == 0, "SIGINT: exit 0")

# ---------------------------------------------------------------- SIGTERM with requests in flight
D = Server("--shutdown-timeout", "20")
keep = D.conn()
st, j, _, _ = post(D, "/embed", {"inputs": texts[0]}, conn=keep)
check(st == 200, "drain: keep-alive connection works")
body = json.dumps({"inputs": texts[1]}).encode()
inflight = socket.create_connection(("127.0.0.1", D.port), timeout=30)
inflight.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:5])
# SIGTERM only once the server has begun that request (a loaded machine may take a while
# to read its headers): /metrics then counts it and itself in flight.
for _ in range(100):
    _, _, mdata, _ = request(D, "GET", "/metrics")
    if re.search(rb"^xling_requests_in_flight ([2-9]|[1-9][0-9]+)$", mdata, re.M):
        break
    time.sleep(0.1)
D.p.send_signal(signal.SIGTERM)
time.sleep(0.5)
check(D.p.poll() is None, "drain: the server waits for the request in flight")
try:
    st, j, _, _ = post(D, "/embed", {"inputs": "a"}, conn=keep)
    check(tei_err(j, st, 503, "Unhealthy"), "drain: a new request on an open connection -> 503 %s %r" % (st, j))
except (ConnectionError, http.client.HTTPException) as e:
    check(False, "drain: keep-alive request failed %r" % e)
try:
    c = socket.create_connection(("127.0.0.1", D.port), timeout=2)
    c.close()
    check(False, "drain: new connections are refused")
except OSError:
    check(True, "drain: new connections are refused")
inflight.sendall(body[5:])
data = b""
while True:
    chunk = inflight.recv(65536)
    if not chunk:
        break
    data += chunk
    if data.endswith(b"]]"):
        break
inflight.close()
payload = data.partition(b"\r\n\r\n")[2]
check(data.startswith(b"HTTP/1.1 200") and close(json.loads(payload or b"[[]]")[0], ref[1]),
      "drain: the request in flight completes with its vector: %r" % data[:30])
try:
    rc = D.p.wait(10)
except subprocess.TimeoutExpired:
    rc = None
# at least the request in flight (the /metrics request just answered may still count)
check(rc == 0 and any(re.search(r"finishing [1-9][0-9]* request", l) for l in D.lines) and "stopped" in D.lines[-1],
      "drain: exit 0 after the request in flight (%s) %r" % (rc, D.lines[-3:]))
D.stop()

# ---------------------------------------------------------------- reranking
RERANKER = os.path.join(SHARED_FIX, "xlmr-reranker-tiny")
DEC_RERANKER = os.path.join(SHARED_FIX, "qwen3-reranker-tiny")


def cli_rerank(model, query, docs, *extra):
    path = os.path.join(tmp, "docs.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
    rc, out, err = cli(["rerank", "-m", model, "-q", query, "-i", path] + list(extra))
    return [json.loads(l) for l in out.splitlines() if l.strip()] if rc == 0 else []


if not os.path.isdir(RERANKER):
    skip("reranking: %s not found" % RERANKER)
else:
    rref, tol = fixture_reference(RERANKER)
    R = Server("-m", RERANKER)
    st, j, _, _ = request(R, "GET", "/info")
    check(st == 200 and "reranker" in j.get("model_type", {}), "/info of a reranker: model_type reranker %r" % j)
    for case in rref["rerank"][:3]:
        q, docs = case["query"], case["documents"]
        st, j, _, _ = post(R, "/rerank", {"query": q, "texts": docs, "truncate": True})
        ok = st == 200 and [x["index"] for x in j] == case["order"]
        check(ok and all(abs(x["score"] - case["scores"][x["index"]]) <= tol and "text" not in x for x in j),
              "tei /rerank: order and scores = the fixture's reference %s %r" % (st, j))
        st, j, _, _ = post(R, "/rerank", {"query": q, "texts": docs, "raw_scores": True, "return_text": True, "truncate": True})
        check(st == 200 and all(abs(x["score"] - case["raw_scores"][x["index"]]) <= tol and x["text"] == docs[x["index"]] for x in j),
              "tei /rerank: raw_scores and return_text")
        st, j, _, _ = post(R, "/v1/rerank", {"query": q, "documents": [{"text": d} for d in docs], "top_n": 2,
                                             "return_documents": True, "model": "xlmr-reranker-tiny"})
        check(st == 200 and j["model"] == "xlmr-reranker-tiny" and [x["index"] for x in j["results"]] == case["order"][:2]
              and all(abs(x["relevance_score"] - case["scores"][x["index"]]) <= tol and x["document"]["text"] == docs[x["index"]]
                      for x in j["results"]) and j["usage"]["total_tokens"] > 0, "/v1/rerank: top_n 2, documents %s %r" % (st, j))
    docs = ["Paris is the capital of France.", "I like green tea.", ""]
    want = cli_rerank(RERANKER, "capital of France?", docs)
    st, j, _, _ = post(R, "/rerank", {"query": "capital of France?", "texts": docs})
    check(st == 200 and [x["index"] for x in j] == [x["index"] for x in want]
          and all(abs(a["score"] - b["score"]) <= 1e-5 for a, b in zip(j, want)), "tei /rerank = xling rerank %r %r" % (j, want))
    st, j, _, _ = post(R, "/v1/rerank", {"query": "capital of France?", "documents": docs})
    check(st == 200 and [x["index"] for x in j["results"]] == [x["index"] for x in want] and "document" not in j["results"][0],
          "/v1/rerank = xling rerank, no documents unless asked")
    for body, what in [({"query": "a", "texts": []}, "empty texts"), ({"query": 1, "texts": ["b"]}, "query a number"),
                       ({"query": "a", "texts": ["b", 2]}, "a text a number"), ({"query": "a", "texts": ["b"] * 33}, "33 texts"),
                       ({"query": "a", "texts": ["b"], "raw_scores": "no"}, "raw_scores a string"),
                       ({"query": "a", "texts": [long_text]}, "too long without truncate")]:
        st, j, _, _ = post(R, "/rerank", body)
        check(tei_err(j, st, 422), "tei /rerank: %s -> 422 %s %r" % (what, st, j))
    st, j, _, _ = post(R, "/rerank", {"query": "a", "texts": [long_text], "truncate": True})
    want = cli_rerank(RERANKER, "a", [long_text])
    check(st == 200 and want and abs(j[0]["score"] - want[0]["score"]) <= 1e-5, "tei /rerank: truncate = xling rerank's cut")
    for body, what, code in [({"query": "a", "documents": []}, "empty documents", 400), ({"documents": ["b"]}, "no query", 400),
                             ({"query": "a", "documents": ["b"], "top_n": 0}, "top_n 0", 400),
                             ({"query": "a", "documents": [{"txt": "b"}]}, "document without text", 400),
                             ({"query": "a", "documents": ["b"] * 33}, "33 documents", 413),
                             ({"query": "a", "documents": [long_text]}, "too long", 413)]:
        st, j, _, _ = post(R, "/v1/rerank", body)
        check(openai_err(j, code, st, code), "/v1/rerank: %s -> %d: %s %r" % (what, code, st, j))
    st, j, _, _ = post(R, "/v1/rerank", {"query": "a", "documents": ["b"], "model": "other"})
    check(openai_err(j, 404, st, 404, "model_not_found"), "/v1/rerank: another model -> 404")
    # concurrent /rerank clients with their own queries get their own rankings
    qs = ["capital of %s?" % c for c in ["France", "Italy", "Spain", "Japan"] * 4]
    rdocs = ["Paris is the capital of France.", "Rome is in Italy.", "Madrid is a city.", "I like green tea."]
    rwant = [cli_rerank(RERANKER, q, rdocs) for q in qs[:4]] * 4
    rres = [None] * len(qs)

    def rworker(i):
        try:
            st, j, _, _ = post(R, "/rerank", {"query": qs[i], "texts": rdocs})
            rres[i] = j if st == 200 else None
        except Exception as e:  # noqa
            rres[i] = repr(e)

    concurrently(rworker, len(qs))
    bad = [i for i in range(len(qs)) if not (isinstance(rres[i], list) and rwant[i]
                                             and [x["index"] for x in rres[i]] == [x["index"] for x in rwant[i]]
                                             and all(abs(a["score"] - b["score"]) <= 1e-5 for a, b in zip(rres[i], rwant[i])))]
    check(not bad, "tei /rerank: %d concurrent clients get their own rankings (xling rerank): %r" % (len(qs), bad))
    # /predict on a one-label cross-encoder: the /rerank score of the pair, under its label
    want = cli_rerank(RERANKER, "capital of France?", docs[:1])
    st, j, _, _ = post(R, "/predict", {"inputs": ["capital of France?", docs[0]]})
    best = [x for x in want if x["index"] == 0]
    check(st == 200 and len(j) == 1 and best and abs(j[0]["score"] - best[0]["score"]) <= 1e-5 and isinstance(j[0]["label"], str),
          "tei /predict on a reranker = its /rerank score %r" % j)
    check(R.stop() == 0, "reranker server exit 0")
    if os.path.isdir(DEC_RERANKER):
        R = Server("-m", DEC_RERANKER)
        docs = ["The Eiffel Tower is in Paris.", "Bananas are yellow."]
        want = cli_rerank(DEC_RERANKER, "Where is the Eiffel Tower?", docs)
        st, j, _, _ = post(R, "/rerank", {"query": "Where is the Eiffel Tower?", "texts": docs})
        check(st == 200 and want and [x["index"] for x in j] == [x["index"] for x in want]
              and all(abs(a["score"] - b["score"]) <= 1e-5 for a, b in zip(j, want)),
              "tei /rerank with a decoder reranker (Qwen3-Reranker) = xling rerank %r %r" % (j, want))
        # /predict takes a decoder reranker's whole formatted input as one text, as xling score
        path = os.path.join(tmp, "dec_pairs.jsonl")
        with open(path, "w") as f:
            f.write(json.dumps({"text": "<Query>: a\n<Document>: b"}) + "\n")
        rc, out, _ = cli(["score", "-m", DEC_RERANKER, "-i", path])
        want = json.loads(out)["score"] if rc == 0 else None
        st, j, _, _ = post(R, "/predict", {"inputs": "<Query>: a\n<Document>: b"})
        check(st == 200 and want is not None and len(j) == 1 and abs(j[0]["score"] - want) <= 1e-5,
              "tei /predict with a decoder reranker = xling score %r %r" % (j, want))
        st, j, _, _ = post(R, "/predict", {"inputs": ["a", "b"]})
        check(tei_err(j, st, 422, "Validation"), "tei /predict: a pair for a decoder reranker -> 422 %s %r" % (st, j))
        check(R.stop() == 0, "decoder reranker server exit 0")

# ---------------------------------------------------------------- sequence classification (/predict)
NLI = os.path.join(SHARED_FIX, "bert-nli-tiny")
if not os.path.isdir(NLI):
    skip("/predict: %s not found" % NLI)
else:
    nref, tol = fixture_reference(NLI)
    labels = [nref["id2label"][str(k)] for k in range(nref["num_labels"])]
    C = Server("-m", NLI)
    st, j, _, _ = request(C, "GET", "/info")
    check(st == 200 and j.get("model_type") == {"classifier": {"id2label": nref["id2label"],
                                                               "label2id": {l: k for k, l in enumerate(labels)}}},
          "/info of a classifier: model_type classifier with its labels %r" % j.get("model_type"))

    def by_label(preds):
        return {p["label"]: p["score"] for p in preds}

    def best_first(preds):
        return all(preds[k]["score"] >= preds[k + 1]["score"] for k in range(len(preds) - 1))

    pairs = nref["pairs"]
    x = pairs[0]
    st, j, _, _ = post(C, "/predict", {"inputs": [x["text"], x["text_pair"]]})
    check(st == 200 and best_first(j) and sorted(by_label(j)) == sorted(labels)
          and all(abs(by_label(j)[l] - x["probabilities"][l]) <= tol for l in labels) and j[0]["label"] == x["label"],
          "tei /predict: a pair -> every label best first, the reference's probabilities %r" % j)
    st, j, _, _ = post(C, "/predict", {"inputs": [x["text"], x["text_pair"]], "raw_scores": True})
    check(st == 200 and all(abs(by_label(j)[labels[k]] - x["logits"][k]) <= tol for k in range(len(labels))),
          "tei /predict: raw_scores = the reference's logits %r" % j)
    st, j, _, _ = post(C, "/predict", {"inputs": [[p["text"], p["text_pair"]] for p in pairs]})
    check(st == 200 and len(j) == len(pairs) and all(best_first(g) and all(abs(by_label(g)[l] - p["probabilities"][l]) <= tol
                                                                          for l in labels) for g, p in zip(j, pairs)),
          "tei /predict: a batch of pairs = the reference, in order %s" % st)
    # single texts: a string, [text] and a batch item [text] are the same; = xling score
    path = os.path.join(tmp, "nli.jsonl")
    with open(path, "w") as f:
        f.write(json.dumps({"text": "A man is eating."}) + "\n")
        f.write(json.dumps({"text": "A man is eating.", "text_pair": "Someone eats."}) + "\n")
    rc, out, _ = cli(["score", "-m", NLI, "-i", path])
    want = [json.loads(l)["scores"] for l in out.splitlines()] if rc == 0 else []
    st1, j1, _, _ = post(C, "/predict", {"inputs": "A man is eating."})
    st2, j2, _, _ = post(C, "/predict", {"inputs": ["A man is eating."]})
    st3, j3, _, _ = post(C, "/predict", {"inputs": [["A man is eating."], ["A man is eating.", "Someone eats."]]})
    check(st1 == st2 == st3 == 200 and len(want) == 2 and j1 == j2 == j3[0]
          and all(abs(by_label(j1)[l] - want[0][l]) <= 1e-5 for l in labels)
          and all(abs(by_label(j3[1])[l] - want[1][l]) <= 1e-5 for l in labels),
          "tei /predict: a text alone and a mixed batch = xling score %r %r" % (j3, want))
    st, j, _, _ = post(C, "/predict", {"inputs": [long_text, "x"], "truncate": True})
    check(st == 200 and len(j) == len(labels), "tei /predict: truncate true cuts a long pair %s" % st)
    for body, what, etype in [({"inputs": ["a", "b", "c"]}, "three strings", "Validation"),
                              ({"inputs": []}, "empty list", "Empty"), ({"inputs": 5}, "a number", "Validation"),
                              ({"inputs": [["a"], ["b", 2]]}, "a batch item with a number", "Validation"),
                              ({"inputs": [["a"], []]}, "an empty batch item", "Validation"),
                              ({"inputs": [["a"]] * 33}, "33 items", "Validation"), ({}, "no inputs", "Validation"),
                              ({"inputs": "a", "raw_scores": "yes"}, "raw_scores a string", "Validation"),
                              ({"inputs": [long_text, "x"]}, "too long without truncate", "Validation")]:
        st, j, _, _ = post(C, "/predict", body)
        check(tei_err(j, st, 422, etype), "tei /predict: %s -> 422 %s: %s %r" % (what, etype, st, j))
    # concurrent clients: their items are merged into shared passes by the batcher, and
    # each gets its own scores
    cpairs = [("A man number %d is eating %s." % (i, w), "Someone eats %s." % w)
              for i, w in enumerate(["rice", "bread", "soup", "fish"] * 6)]
    path = os.path.join(tmp, "nli_conc.jsonl")
    with open(path, "w") as f:
        for a, b in cpairs:
            f.write(json.dumps({"text": a, "text_pair": b}) + "\n")
    rc, out, _ = cli(["score", "-m", NLI, "-i", path])
    cwant = [json.loads(l)["scores"] for l in out.splitlines()] if rc == 0 else []
    cres = [None] * len(cpairs)

    def cworker(i):
        try:
            body = {"inputs": list(cpairs[i])} if i % 2 else {"inputs": [list(cpairs[i]), [cpairs[i][0]]]}
            st, j, _, _ = post(C, "/predict", body)
            cres[i] = (j if i % 2 else j[0]) if st == 200 else None
        except Exception as e:  # noqa
            cres[i] = repr(e)

    concurrently(cworker, len(cpairs))
    bad = [i for i in range(len(cpairs)) if not (len(cwant) == len(cpairs) and isinstance(cres[i], list)
                                                 and all(abs(by_label(cres[i])[l] - cwant[i][l]) <= 1e-5 for l in labels))]
    check(not bad, "tei /predict: %d concurrent clients get their own scores (xling score): %r" % (len(cpairs), bad))
    st, j, _, _ = post(C, "/predict", "{not json")
    check(tei_err(j, st, 422), "tei /predict: malformed JSON -> 422")
    st, j, _, _ = post(C, "/rerank", {"query": "a", "texts": ["b"]})
    check(tei_err(j, st, 424, "Backend"), "tei /rerank on a three-label classifier -> 424 %s %r" % (st, j))
    st, _, data, _ = request(C, "GET", "/metrics")
    check(st == 200 and b'xling_requests_total{endpoint="/predict",status="200"} 31' in data
          and b'xling_requests_total{endpoint="/predict",status="422"} 10' in data,
          "/metrics counts /predict by status %r" % [l for l in data.splitlines() if b"/predict" in l])
    check(C.stop() == 0, "classifier server exit 0")

# ---------------------------------------------------------------- bge-m3 sparse
M3 = os.path.join(SHARED_FIX, "bge-m3-tiny")
if not os.path.isdir(M3):
    skip("/embed_sparse: %s not found" % M3)
else:
    mref, tol = fixture_reference(M3)
    B = Server("-m", M3)
    ins = [x["text"] for x in mref["inputs"]][:8]
    st, j, _, _ = post(B, "/embed_sparse", {"inputs": ins, "truncate": True})
    ok = st == 200 and len(j) == len(ins)
    for x, got in zip(mref["inputs"][:8], j if ok else []):
        want = {int(k): v for k, v in x["sparse"].items()}
        ok = ok and [e["index"] for e in got] == sorted(want) and all(abs(e["value"] - want[e["index"]]) <= tol for e in got)
    check(ok, "tei /embed_sparse = the fixture's sparse weights %s" % st)
    rc, out, _ = cli(["embed", "-m", M3, "--head", "sparse", ins[0], ins[1]])
    want = [json.loads(l)["sparse"] for l in out.splitlines()] if rc == 0 else []
    st, j, _, _ = post(B, "/embed_sparse", {"inputs": ins[:2]})
    check(st == 200 and len(want) == 2 and all(sorted(w) == sorted(str(e["index"]) for e in got)
                                               and all(abs(e["value"] - w[str(e["index"])]) <= 1e-5 for e in got)
                                               for got, w in zip(j, want)), "tei /embed_sparse = xling embed --head sparse")
    rc, out, _ = cli(["tokenize", "-m", M3, ins[0]])
    m3_ids = json.loads(out)["ids"] if rc == 0 else [0, 2]
    st, j2, _, _ = post(B, "/embed_sparse", {"inputs": [m3_ids]})
    check(st == 200 and len(j) == 2 and len(j2) == 1 and [e["index"] for e in j2[0]] == [e["index"] for e in j[0]]
          and all(abs(a["value"] - b["value"]) <= 1e-5 for a, b in zip(j2[0], j[0])),
          "tei /embed_sparse: the ids of a text = that text %s" % st)
    st, j, _, _ = post(B, "/embed_sparse", {"inputs": []})
    check(tei_err(j, st, 422), "tei /embed_sparse: empty list -> 422")
    check(B.stop() == 0, "bge-m3 server exit 0")

# ---------------------------------------------------------------- usage errors
for args, want in [([], "-m DIR is required"), (["-m", MODEL, "--log-format", "xml"], "--log-format"),
                   (["-m", MODEL, "--port", "70000"], "--port"), (["-m", MODEL, "--max-body-bytes", "lots"], "--max-body-bytes"),
                   (["-m", MODEL, "--api-key", "a", "--api-key-file", keyfile], "cannot be used together"),
                   (["-m", MODEL, "--max-input-tokens", "100000"], "--max-input-tokens"),
                   (["-m", MODEL, "--cors-allow-origin", "app.example"], "--cors-allow-origin"),
                   (["-m", MODEL, "--cors-allow-origin", "https://a.example/path"], "--cors-allow-origin"),
                   (["-m", MODEL, "--cors-allow-origin", ""], "--cors-allow-origin")]:
    rc, out, err = cli(["serve"] + args)
    lines = err.strip().splitlines()
    check(rc == 2 and len(lines) == 1 and want in lines[0], "serve %r -> usage error: %s %r" % (args, rc, err))
rc, out, err = cli(["serve", "-m", os.path.join(tmp, "no-such-model")])
check(rc == 1 and len(err.strip().splitlines()) == 1 and "no-such-model" in err, "missing model folder: %s %r" % (rc, err))
rc, out, err = cli(["serve", "-m", MODEL, "--api-key-file", os.path.join(tmp, "nokey")])
check(rc == 1 and "nokey" in err, "missing key file: %r" % err)
busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen(1)
rc, out, err = cli(["serve", "-m", MODEL, "--port", str(busy.getsockname()[1])])
busy.close()
check(rc == 1 and "cannot listen" in err and len(err.strip().splitlines()) == 1, "port in use: %s %r" % (rc, err))
rc, out, err = cli(["serve", "--help"])
check(rc == 0 and "/v1/embeddings" in out and "--max-batch-tokens" in out, "serve --help")

shutil.rmtree(tmp, ignore_errors=True)
print("(%.1f s)" % (time.time() - T0), file=sys.stderr)
summary("test_serve")
