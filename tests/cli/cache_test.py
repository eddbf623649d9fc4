"""Tokenizer cache files are byte-deterministic: two cache builds of the same tokenizer,
made with the heap filled with different garbage (glibc MALLOC_PERTURB_), give identical
bytes, so no uninitialised memory (struct padding, empty hash slots) reaches the file.
With valgrind installed and a binary it can run (a build without AVX-512, e.g.
`make BUILD=build-vg ARCH=-march=x86-64-v2 build-vg/xling`, picked up automatically),
the cache write is also checked for uninitialised bytes directly.
Prints "test_cache: N passed, N failed, N skipped" last."""
import os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import ROOT, XLING, SHARED_TOK, check, skip, summary  # noqa: E402

TOKS = SHARED_TOK


def tiny_bpe():
    """Qwen3's tokenizer cut to 3000 pieces and their merges: the same BPE tables in a
    size valgrind goes through in seconds. Dated back so the cache takes it as settled."""
    import json
    t = json.load(open(os.path.join(TOKS, "qwen3", "tokenizer.json"), encoding="utf-8"))
    vocab = {k: i for i, (k, _) in enumerate(sorted(t["model"]["vocab"].items(), key=lambda kv: kv[1])[:3000])}
    t["model"]["vocab"] = vocab
    t["model"]["merges"] = [m for m in t["model"]["merges"] if m[0] in vocab and m[1] in vocab and m[0] + m[1] in vocab][:1000]
    for k, a in enumerate(t["added_tokens"]):
        a["id"] = len(vocab) + k
    d = tempfile.mkdtemp(prefix="xling-tinybpe-")
    path = os.path.join(d, "tokenizer.json")
    json.dump(t, open(path, "w", encoding="utf-8"), ensure_ascii=False)
    os.utime(path, (1.6e9, 1.6e9))
    return d


def build_cache(binary, tok, perturb, wrapper=()):
    d = tempfile.mkdtemp(prefix="xling-cache-")
    env = dict(os.environ, XLING_TOKENIZER_CACHE=d, MALLOC_PERTURB_=str(perturb))
    p = subprocess.run(list(wrapper) + [binary, "tokenize", "-m", os.path.join(TOKS, tok)], input=b"hello\n",
                       capture_output=True, env=env, timeout=600)
    files = [os.path.join(d, f) for f in os.listdir(d)]
    data = open(files[0], "rb").read() if len(files) == 1 else None
    shutil.rmtree(d, ignore_errors=True)
    return p, data


if not os.path.isdir(TOKS):
    skip("cache determinism", "../shared absent")
else:
    # One tokenizer per model kind; the BPE ones hold the hash tables.
    tiny = tiny_bpe()
    for tok in ["bert-wordpiece", "qwen3", tiny]:
        p1, a = build_cache(XLING, tok, 85)
        p2, b = build_cache(XLING, tok, 170)
        if check(p1.returncode == 0 and p2.returncode == 0 and a and b, f"{tok}: cache written"):
            check(a == b, f"{tok}: two cache builds differ ({len(a)} vs {len(b)} bytes)")
    vg = shutil.which("valgrind")
    vgbin = os.path.join(ROOT, "build-vg", "xling")
    asan = b"__asan_init" in open(XLING, "rb").read()
    if not vg:
        skip("valgrind cache write", "valgrind not installed")
    elif asan and not os.path.exists(vgbin):
        skip("valgrind cache write", "an AddressSanitizer build (valgrind cannot run it)")
    else:
        binary = vgbin if os.path.exists(vgbin) else XLING
        os.environ["OMP_WAIT_POLICY"] = "passive"  # chosen: the CLI does not re-execute itself under valgrind
        p, data = build_cache(binary, tiny, 85, [vg, "-q"])
        err = p.stderr.decode("utf-8", "replace")
        if "Illegal opcode" in err or "unhandled instruction" in err:
            skip("valgrind cache write", "binary uses instructions valgrind lacks (build build-vg, see the docstring)")
        else:
            check(p.returncode == 0 and data and "uninitialised byte" not in err, f"valgrind: cache write clean: {err[-2000:]}")

    shutil.rmtree(tiny, ignore_errors=True)
summary("test_cache")
