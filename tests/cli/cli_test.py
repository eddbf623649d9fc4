"""End-to-end tests of the xling CLI: embed / tokenize / info / similarity / bench-embed,
their input and output formats, and their error paths. Python standard library only.
Prints "test_cli: N passed, N failed, N skipped" last.

Tolerances: embeddings are compared with the float64 reference of the fixture
(reference.json) at max abs 1e-4 (xling computes in F32, whatever the stored dtype)."""
import functools, json, math, os, shutil, struct, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import SHARED, FIX, SHARED_FIX, check, skip, summary, jsonl, read_npy, maxdiff  # noqa: E402

run = functools.partial(clitest.run, binary=True)  # stdout as bytes: output formats are compared raw

TOL = 1e-4


def ref(model):
    with open(os.path.join(FIX, model, "reference.json")) as f:
        return json.load(f)


tmp = tempfile.mkdtemp(prefix="xling-cli-")


def tpath(name):
    return os.path.join(tmp, name)


def write(name, content, mode="w"):
    p = tpath(name)
    with open(p, mode) as f:
        f.write(content)
    return p


# ---- embed: the reference embeddings of every fixture input, texts and ids ----
for model in ["bert-tiny", "xlmr-tiny"]:
    r = ref(model)
    mdir = os.path.join(FIX, model)
    # Inputs given as raw text + their prompt name, as a user would.
    for i, inp in enumerate(r["inputs"]):
        if inp.get("raw_text") is None:  # input 6: a lone special token, given only as ids
            continue
        args = ["embed", "-m", mdir, "--input-format", "jsonl"]
        if inp.get("prompt_name"):
            args += ["--prompt", inp["prompt_name"]]
        rc, out, err = run(args, stdin=(json.dumps({"text": inp["raw_text"]}) + "\n").encode())
        if not check(rc == 0, f"{model} input {i} embed rc={rc} {err}"):
            continue
        got = jsonl(out)[0]["embedding"]
        d = maxdiff(got, r["embeddings"][i])
        check(d <= TOL, f"{model} input {i} text embedding max diff {d}")
    # All inputs as ids in one JSONL file: one padded batch, output in input order.
    p = write(f"{model}-ids.jsonl", "".join(json.dumps({"input_ids": x["input_ids"]}) + "\n" for x in r["inputs"]))
    rc, out, err = run(["embed", "-m", mdir, "-i", p])
    if check(rc == 0, f"{model} ids embed rc={rc} {err}"):
        rows = [o["embedding"] for o in jsonl(out)]
        check(len(rows) == len(r["inputs"]), f"{model} ids: one output per input")
        for i, row in enumerate(rows):
            check(maxdiff(row, r["embeddings"][i]) <= TOL, f"{model} ids input {i} max diff {maxdiff(row, r['embeddings'][i])}")
        # .npy and f32 outputs hold the same numbers.
        rc, _, err = run(["embed", "-m", mdir, "-i", p, "-o", tpath("e.npy")])
        if check(rc == 0, f"npy rc {err}"):
            hdr, arr = read_npy(tpath("e.npy"))
            check(hdr["descr"] == "<f4" and hdr["fortran_order"] is False, "npy header")
            check(len(arr) == len(rows) and all(maxdiff(a, b) <= 1e-6 for a, b in zip(arr, rows)), "npy == jsonl")
        rc, out, err = run(["embed", "-m", mdir, "-i", p, "--format", "npy"])
        if check(rc == 0, "npy to stdout"):
            with open(tpath("s.npy"), "wb") as f:
                f.write(out)
            _, arr = read_npy(tpath("s.npy"))
            check(len(arr) == len(rows) and all(maxdiff(a, b) <= 1e-6 for a, b in zip(arr, rows)), "npy stdout == jsonl")
        rc, out, err = run(["embed", "-m", mdir, "-i", p, "--format", "f32"])
        if check(rc == 0, "f32 rc"):
            dim = len(rows[0])
            check(len(out) == 4 * dim * len(rows), "f32 size")
            vals = struct.unpack("<%df" % (len(out) // 4), out)
            check(maxdiff(list(vals[:dim]), rows[0]) <= 1e-6, "f32 == jsonl")
        # Small batches give the same vectors as one big batch.
        rc, out, err = run(["embed", "-m", mdir, "-i", p, "--batch", "3", "-t", "1"])
        if check(rc == 0, "batch 3"):
            rows3 = [o["embedding"] for o in jsonl(out)]
            check(all(maxdiff(a, b) <= 1e-5 for a, b in zip(rows3, rows)), "batch size does not change vectors")

bert = os.path.join(FIX, "bert-tiny")
xlmr = os.path.join(FIX, "xlmr-tiny")

# ---- plain-text input details ----
rc, out, err = run(["embed", "-m", bert], stdin=b"hello world\r\n\nhello world\n")
if check(rc == 0, f"text embed rc {err}"):
    rows = [o["embedding"] for o in jsonl(out)]
    check(len(rows) == 3, "three lines, three vectors (empty line embedded)")
    # Input handling is checked on token ids; vectors of different batch compositions
    # agree to float rounding only (OpenBLAS on the generic kernel set blocks by rows).
    rct, outt, _ = run(["tokenize", "-m", bert], stdin=b"hello world\r\n\nhello world\n")
    toks = [o["ids"] for o in jsonl(outt)] if rct == 0 else []
    check(len(toks) == 3 and toks[0] == toks[2], "trailing \\r stripped (token ids)")
    check(maxdiff(rows[0], rows[2]) <= 1e-5, "trailing \\r stripped (vectors)")
    rct, outt, _ = run(["tokenize", "-m", bert, "--input-format", "jsonl"], stdin=b'{"text": ""}\n')
    check(rct == 0 and len(toks) == 3 and jsonl(outt)[0]["ids"] == toks[1], "empty line == JSONL empty text (token ids)")
    rc2, out2, _ = run(["embed", "-m", bert, "--input-format", "jsonl"], stdin=b'{"text": ""}\n')
    check(rc2 == 0 and maxdiff(jsonl(out2)[0]["embedding"], rows[1]) <= 1e-5, "empty line == JSONL empty text")
    check(all(abs(math.sqrt(sum(x * x for x in r)) - 1) < 1e-5 for r in rows), "bert-tiny vectors normalized (folder has Normalize)")
    rc, out, _ = run(["embed", "-m", bert, "--no-normalize"], stdin=b"hello world\n")
    check(rc == 0 and abs(math.sqrt(sum(x * x for x in jsonl(out)[0]["embedding"])) - 1) > 1e-3, "--no-normalize")

# Invalid UTF-8: repaired with a warning naming the line, still embedded.
rc, out, err = run(["embed", "-m", bert], stdin=b"ok\nbad \xff\xfe bytes\n")
check(rc == 0 and len(jsonl(out)) == 2 and "line 2" in err and "U+FFFD" in err, f"invalid UTF-8 warning: {err!r}")
rc2, out2, _ = run(["embed", "-m", bert], stdin="bad \ufffd\ufffd bytes\n".encode())
check(rc2 == 0 and maxdiff(jsonl(out)[1]["embedding"], jsonl(out2)[0]["embedding"]) <= 1e-5, "invalid UTF-8 == U+FFFD text")
rct, outt, _ = run(["tokenize", "-m", bert], stdin=b"bad \xff\xfe bytes\n")
rct2, outt2, _ = run(["tokenize", "-m", bert], stdin="bad \ufffd\ufffd bytes\n".encode())
check(rct == 0 and rct2 == 0 and jsonl(outt)[0]["ids"] == jsonl(outt2)[0]["ids"], "invalid UTF-8 == U+FFFD text (token ids)")

# Truncation: counted on stderr; --max-length changes the vector.
long_text = ("word " * 600).encode() + b"\n"
rc, out, err = run(["embed", "-m", bert], stdin=long_text + b"short\n")
check(rc == 0 and "1 of 2 inputs" in err and "512" in err, f"truncation reported: {err!r}")
rc, out, err = run(["embed", "-m", bert, "--max-length", "4"], stdin=b"one two three four five six\n")
check(rc == 0 and "truncated" in err, "--max-length truncates")
rc, _, err = run(["embed", "-m", bert, "--max-length", "100000"], stdin=b"x\n")
check(rc == 1 and "position" in err, f"--max-length beyond the position table: {err!r}")

# JSONL: \u0000 kept inside a text, newlines inside texts.
rc, out, err = run(["tokenize", "-m", xlmr, "--input-format", "jsonl"], stdin=b'{"text": "a\\u0000b"}\n{"text": "ab"}\n{"text": "line1\\nline2"}\n')
if check(rc == 0, f"tokenize jsonl {err}"):
    o = jsonl(out)
    check(len(o) == 3 and o[0]["ids"] != o[1]["ids"], "\\u0000 kept in JSON text")

# ---- tokenize: corpus lines of a real tokenizer match the HF ids ----
tokdir = os.path.join(SHARED, "fixtures", "tokenizers")
if os.path.isdir(tokdir):
    corpus = [json.loads(l) for l in open(os.path.join(tokdir, "corpus.jsonl"), encoding="utf-8")][:300]
    inp = "".join(json.dumps({"text": c["text"]}) + "\n" for c in corpus).encode()
    for name in ["bert-wordpiece", "xlmr-unigram"]:
        div = {json.loads(l)["id"] for l in open(os.path.join(tokdir, "known_divergences.jsonl")) if json.loads(l)["tokenizer"] == name}
        for flag, suffix in [([], ""), (["--no-special"], ".nospecial")]:
            exp = [json.loads(l) for l in open(os.path.join(tokdir, "expected", name + suffix + ".jsonl"), encoding="utf-8")][:300]
            rc, out, err = run(["tokenize", "-m", os.path.join(tokdir, "models", name), "--input-format", "jsonl"] + flag, stdin=inp)
            if check(rc == 0, f"tokenize {name} {err}"):
                got = jsonl(out)
                bad = [e["id"] for g, e in zip(got, exp) if g["ids"] != e["ids"] and e["id"] not in div]
                check(len(got) == len(exp) and not bad, f"tokenize {name}{suffix}: mismatching ids {bad[:5]}")
    rc, out, _ = run(["tokenize", "-m", os.path.join(tokdir, "models", "bert-wordpiece"), "--max-length", "3"], stdin=b"hello brave new world\n")
    check(rc == 0 and jsonl(out)[0]["ids"][0] == 101 and jsonl(out)[0]["ids"][-1] == 102 and len(jsonl(out)[0]["ids"]) == 3, "tokenize --max-length keeps specials")
else:
    skip("tokenize corpus", "../shared absent")

# ---- kernel sets (XLING_ISA) ----
rc, out, err = run(["info", "--kernels"], env={"XLING_ISA": ""})
avail = []
if check(rc == 0 and out.startswith(b"kernels "), f"info --kernels {out!r} {err!r}"):
    lines = dict(l.split(None, 1) for l in out.decode().splitlines())
    avail = lines["available"].split()
    check(lines["kernels"] in avail, f"kernel set in use is available: {lines}")
    rc, outv, _ = run(["--version"], env={"XLING_ISA": ""})
    check(rc == 0 and f"(kernels: {lines['kernels']})".encode() in outv, f"--version names the kernels: {outv!r}")
for isa in avail:
    rc, outv, _ = run(["--version"], env={"XLING_ISA": isa})
    check(rc == 0 and f"(kernels: {isa})".encode() in outv, f"XLING_ISA={isa} --version: {outv!r}")
rc, outv, err = run(["--version"], env={"XLING_ISA": "avx9000"})
single = len(avail) == 1  # NATIVE=1 or non-x86 builds: one kernel set
want = "this build has only the" if single else "unknown kernel set"
check(rc == 1 and f"XLING_ISA=avx9000: {want}" in err and err.count("\n") == 1, f"unknown XLING_ISA: {err!r}")
# XLING_TEST_CPU makes the library treat the sets after the named one as missing
# (a CPU without them), so the refusals are tested on any x86 machine.
if "avx512" in avail and "avx2-novnni" in avail:
    rc, outv, err = run(["embed", "-m", bert], stdin=b"x\n", env={"XLING_ISA": "avx512", "XLING_TEST_CPU": "avx2-novnni"})
    check(rc == 1 and err == "xling: XLING_ISA=avx512: this CPU has no AVX-512 (it has avx2-novnni)\n", f"XLING_ISA=avx512 on an AVX2 CPU: {err!r}")
    rc, outv, err = run(["--version"], env={"XLING_ISA": "avx2", "XLING_TEST_CPU": "avx2-novnni"})
    check(rc == 0 and b"(kernels: avx2-novnni)" in outv, f"XLING_ISA=avx2 without AVX-VNNI: {outv!r}")
    if "avx2" in avail:
        rc, outv, err = run(["--version"], env={"XLING_TEST_CPU": "avx2", "XLING_ISA": ""})
        check(rc == 0 and b"(kernels: avx2)" in outv, f"best set of an AVX2 + VNNI CPU: {outv!r}")
for isa in ["avx2", "avx512"]:
    if not any(a.startswith(isa) for a in avail) and avail and not single:
        rc, outv, err = run(["embed", "-m", bert], stdin=b"x\n", env={"XLING_ISA": isa})
        check(rc == 1 and f"XLING_ISA={isa}: this CPU has no" in err and err.count("\n") == 1, f"XLING_ISA={isa} on a CPU without it: {err!r}")

# ---- info ----
rc, out, err = run(["info", "-m", bert, "--json"])
if check(rc == 0, f"info rc {err}"):
    i = json.loads(out)
    check(i["architecture"] == "BertModel" and i["hidden_size"] == 32 and i["num_layers"] == 2 and i["dim"] == 16, f"info values {i}")
    check(i["pooling"] == "cls" and i["normalize"] is True and i["dense_layers"] == 1 and i["tokenizer"] == "WordPiece", "info head")
    check(i["dtype"] == "F32" and i["max_seq_length"] == 512, "info dtype / max_seq_length")
rc, out, _ = run(["info", "-m", xlmr, "--json"])
if check(rc == 0, "info xlmr"):
    i = json.loads(out)
    check(i["prompts"] == {"query": "query: ", "passage": "passage: "} and i["dtype"] == "F16" and i["tokenizer"] == "Unigram", f"info xlmr {i}")
rc, out, _ = run(["info", "-m", xlmr])
check(rc == 0 and b"XLMRobertaModel" in out, "info text")

# ---- similarity ----
rc, out, err = run(["similarity", "-m", xlmr, "--json"], stdin="The cat sleeps.\nDie Katze schläft.\n".encode())
if check(rc == 0, f"similarity {err}"):
    mat = json.loads(out)
    check(len(mat) == 2 and abs(mat[0][0] - 1) < 1e-5 and abs(mat[0][1] - mat[1][0]) < 1e-6, "similarity matrix symmetric, unit diagonal")

# ---- bench-embed (the benchmark harness contract) ----
rc, out, err = run(["bench-embed", "-m", xlmr, "--batch", "2", "--seq", "8", "--reps", "3", "--threads", "1", "--json"])
if check(rc == 0, f"bench-embed {err}"):
    o = json.loads(out)
    check(len(o["ms"]) == 3 and o["median_ms"] > 0 and o["tokens_per_s"] > 0, "bench-embed fields")
    check(o.get("isa") in avail, f"bench-embed isa {o.get('isa')} in {avail}")
r = ref("xlmr-tiny")
rc, out, err = run(["bench-embed", "-m", xlmr, "--reps", "1"], env={"BENCH_IDS": ",".join(map(str, r["inputs"][0]["input_ids"]))})
if check(rc == 0, f"bench-embed BENCH_IDS {err}"):
    check(maxdiff(json.loads(out)["emb_head"], r["embeddings"][0][:8]) <= TOL, "BENCH_IDS emb_head")

# ---- decoder options (fixtures from ../shared) ----
dec = SHARED_FIX
if os.path.isdir(os.path.join(dec, "llama-bi-tiny")):
    lb = os.path.join(dec, "llama-bi-tiny")
    r = json.load(open(os.path.join(lb, "reference.json")))
    ids_line = (json.dumps({"input_ids": r["inputs"][1]["input_ids"]}) + "\n").encode()
    rc, out, err = run(["embed", "-m", lb, "--input-format", "jsonl"], stdin=ids_line)
    base_v = jsonl(out)[0]["embedding"] if rc == 0 else None
    check(base_v is not None and maxdiff(base_v, r["embeddings"][1]) <= TOL, f"llama-bi-tiny embed {err}")
    rc, out, err = run(["embed", "-m", lb, "--input-format", "jsonl", "--causal"], stdin=ids_line)
    check(rc == 0 and maxdiff(jsonl(out)[0]["embedding"], base_v) > 1e-3, "--causal changes a bidirectional model")
    rc, out, err = run(["embed", "-m", lb, "--input-format", "jsonl", "--bidirectional"], stdin=ids_line)
    check(rc == 0 and maxdiff(jsonl(out)[0]["embedding"], base_v) == 0, "--bidirectional on a bidirectional model is a no-op")
    # q8: cosine >= 0.999 against F32 on every fixture input.
    allids = "".join(json.dumps({"input_ids": x["input_ids"]}) + "\n" for x in r["inputs"]).encode()
    rc, out, err = run(["embed", "-m", lb, "--input-format", "jsonl", "--quantize", "q8"], stdin=allids)
    if check(rc == 0, f"--quantize q8 {err}"):
        cos = [sum(a * b for a, b in zip(o["embedding"], e)) for o, e in zip(jsonl(out), r["embeddings"])]
        check(min(cos) >= 0.999, f"q8 cosine {min(cos)}")
    # --layers: [n, 2, L+1, H] in npy; the first entry is the mean of the embedding output.
    rc, _, err = run(["embed", "-m", lb, "--input-format", "jsonl", "--layers", "-o", tpath("l.npy")], stdin=allids)
    if check(rc == 0, f"--layers npy {err}"):
        hdr, arr = read_npy(tpath("l.npy"))
        cfg = json.load(open(os.path.join(lb, "config.json")))
        check(hdr["shape"] == (len(r["inputs"]), 2, cfg["num_hidden_layers"] + 1, cfg["hidden_size"]), f"layers shape {hdr['shape']}")
    q3 = os.path.join(dec, "qwen3-tiny")
    r3 = json.load(open(os.path.join(q3, "reference.json")))
    inp = r3["inputs"][0]
    task = inp["prompt"][len("Instruct: "):inp["prompt"].index("\nQuery:")]
    rc, out, err = run(["embed", "-m", q3, "--instruct", task, "--input-format", "jsonl"], stdin=(json.dumps({"text": inp["raw_text"]}) + "\n").encode())
    check(rc == 0 and maxdiff(jsonl(out)[0]["embedding"], r3["embeddings"][0]) <= TOL, f"--instruct keeps Qwen3's prompt spacing {err}")
    rc, out, err = run(["embed", "-m", q3, "--dim", "8", "--input-format", "jsonl"], stdin=(json.dumps({"input_ids": r3["inputs"][1]["input_ids"]}) + "\n").encode())
    if check(rc == 0, f"--dim {err}"):
        v = jsonl(out)[0]["embedding"]
        full = r3["embeddings"][1][:8]
        nrm = math.sqrt(sum(x * x for x in full))
        check(len(v) == 8 and maxdiff(v, [x / nrm for x in full]) <= TOL, "--dim truncates and renormalizes")
    rc, out, err = run(["bench-embed", "-m", lb, "--batch", "2", "--seq", "8", "--reps", "1", "--quantize", "q8"])
    check(rc == 0 and json.loads(out)["tokens_per_s"] > 0, f"bench-embed --quantize q8 {err}")
    rc, out, err = run(["bench-embed", "-m", bert, "--reps", "1", "--quantize", "q8"])
    check(rc == 1 and "decoder" in err, f"bench-embed --quantize q8 on an encoder: {err!r}")
    bad_args = ["embed", "-m", bert, "--causal"]
    rc, _, err = run(bad_args, stdin=b"x\n")
    check(rc == 1 and "decoder" in err, f"--causal on an encoder: {err!r}")
else:
    skip("decoder CLI options", "../shared absent")

# ---- bad input: one clear line, non-zero exit, no crash ----
def bad(args, stdin, code, needle, what):
    rc, out, err = run(args, stdin=stdin)
    lines = [l for l in err.strip().splitlines() if l]
    check(rc == code and needle in err and len(lines) == 1, f"{what}: rc={rc} err={err!r}")

bad(["embed", "-m", tpath("nope")], b"x\n", 1, "not a directory", "missing folder")
os.makedirs(tpath("empty"), exist_ok=True)
bad(["embed", "-m", tpath("empty")], b"x\n", 1, "config.json", "folder without config.json")
weird = tpath("weird")
shutil.copytree(bert, weird)
with open(os.path.join(weird, "config.json")) as f:
    cfg = json.load(f)
cfg["architectures"] = ["FooModel"]
cfg["model_type"] = "foo"
with open(os.path.join(weird, "config.json"), "w") as f:
    json.dump(cfg, f)
bad(["embed", "-m", weird], b"x\n", 1, "FooModel", "unknown architecture")
# A folder too big for memory is refused before mapping, with the size it needs.
rc, out, err = run(["embed", "-m", xlmr], stdin=b"x\n", env={"XLING_MEMORY_LIMIT": "100000000"})
check(rc == 1 and "needs about" in err and "GiB" in err and len(err.strip().splitlines()) == 1, f"memory check: {err!r}")
trunc = tpath("trunc")
shutil.copytree(bert, trunc)
st = os.path.join(trunc, "model.safetensors")
size = os.path.getsize(st)
with open(st, "r+b") as f:
    f.truncate(size // 2)
bad(["embed", "-m", trunc], b"x\n", 1, "model.safetensors", "truncated safetensors")
bad(["embed", "-m", bert, "--input-format", "jsonl"], b'{"text": 5}\n', 1, "line 1", "text of the wrong type")
bad(["embed", "-m", bert, "--input-format", "jsonl"], b'{"text": "a"}\nnot json\n', 1, "line 2", "malformed JSONL line")
bad(["embed", "-m", bert, "--input-format", "jsonl"], b'{"input_ids": [1, "x"]}\n', 1, "input_ids", "ids of the wrong type")
bad(["embed", "-m", bert, "--input-format", "jsonl"], b'{"input_ids": [1, 99999999]}\n', 1, "vocabulary", "id out of range")
bad(["embed", "-m", bert, "--input-format", "jsonl"], b'{"input_ids": []}\n', 1, "no tokens", "empty id list")
bad(["embed", "-m", xlmr, "--prompt", "nosuch"], b"x\n", 1, "nosuch", "unknown prompt")
bad(["embed", "-m", bert, "--pooling", "median"], b"x\n", 2, "--pooling", "bad pooling value")
bad(["embed", "-m", bert, "--batch", "0"], b"x\n", 2, "--batch", "bad batch")
bad(["frobnicate"], b"", 2, "unknown command", "unknown command")
notok = tpath("notok")
shutil.copytree(bert, notok)
os.remove(os.path.join(notok, "tokenizer.json"))
bad(["embed", "-m", notok], b"x\n", 1, "tokenizer.json", "texts without a tokenizer")
rc, out, err = run(["embed", "-m", notok, "--input-format", "jsonl"], stdin=(json.dumps({"input_ids": ref("bert-tiny")["inputs"][0]["input_ids"]}) + "\n").encode())
check(rc == 0 and maxdiff(jsonl(out)[0]["embedding"], ref("bert-tiny")["embeddings"][0]) <= TOL, "folder without tokenizer embeds ids")
for cmd in ["embed", "tokenize", "info", "similarity", "bench-embed"]:
    rc, out, _ = run([cmd, "--help"])
    check(rc == 0 and b"usage" in out, f"{cmd} --help")
rc, out, _ = run(["--help"])
check(rc == 0 and all(c in out for c in [b"embed", b"tokenize", b"info", b"similarity", b"bench-embed"]), "xling --help lists commands")

shutil.rmtree(tmp, ignore_errors=True)
summary("test_cli")
