"""End-to-end tests of Hub ids, `xling pull`, `list` and `rm` against the local Hub of
hub_emulator.py (127.0.0.1 only; HOME and HF_HOME point into a temporary folder, never
the real cache). The repos are the fixture models (tests/fixtures/models), plus files
xling must not download (PyTorch / ONNX duplicates, README). Cases: a clean pull in
huggingface_hub's layout (blobs named by etag, relative symlinks, refs/main), then the
model used offline with the vectors of the fixture folder; a pull on first use; branch,
tag and commit revisions (no ref for a commit; shared blobs fetched once); a transfer cut
mid-file resumed with Range (next run, and within one run by the retries); 404, 401
RepoNotFound and gated (with and without HF_TOKEN; the token never reaches the storage
host); a checksum mismatch (nothing left of the file); offline misses; a cache written
by hand used in place; a local folder winning over an id; list --json values; rm keeping
shared blobs; no space; network down; usage errors.
Prints "test_hub_cli: N passed, N failed, N skipped" last."""
import hashlib, json, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hub_emulator import Hub, folder_files, git_sha1  # noqa: E402
import clitest  # noqa: E402
from clitest import XLING, FIX, check, summary, file_size_limit  # noqa: E402

XLMR = os.path.join(FIX, "xlmr-tiny")
BERT = os.path.join(FIX, "bert-tiny")


tmp = tempfile.mkdtemp(prefix="xl_hub_cli_")
hub = Hub()
BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith("HF_") and not k.startswith("HUGGING") and k not in ("XDG_CACHE_HOME",)}
BASE_ENV.update({"HOME": os.path.join(tmp, "home"), "HF_HOME": os.path.join(tmp, "hf"), "HF_ENDPOINT": hub.endpoint,
                 "no_proxy": "*", "NO_PROXY": "*",
                 "XLING_TOKENIZER_CACHE": os.path.join(tmp, "tokcache")})
for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    BASE_ENV.pop(k, None)
CACHE = os.path.join(tmp, "hf", "hub")


def run(args, env=None, stdin=None, cwd=None):
    """xling with BASE_ENV, then env, as its whole environment (None unsets a variable)."""
    e = dict.fromkeys(os.environ)
    e.update(BASE_ENV)
    e.update(env or {})
    return clitest.run(args, stdin, env=e, cwd=cwd, errors="replace")


def one_line(err, *words):
    lines = [l for l in err.splitlines() if l.strip()]
    ok = len(lines) >= 1 and all(w in lines[-1] for w in words) and "Sanitizer" not in err
    return ok


def repo_dir(repo, cache=CACHE):
    org, name = repo.split("/")
    return os.path.join(cache, "models--%s--%s" % (org, name))


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- the repos
xlmr = folder_files(XLMR)
bert = folder_files(BERT)
EXTRAS = {"pytorch_model.bin": b"\x80\x02 not weights xling reads" * 40, "onnx/model.onnx": b"onnx" * 300,
          "README.md": b"# a model card\n", ".gitattributes": b"*.safetensors filter=lfs\n",
          "pytorch_model.bin.index.json": b"{}", "tf_model.h5": b"h5" * 100}
A, B, C, G = "a" * 39 + "1", "b" * 39 + "2", "c" * 39 + "3", "d" * 39 + "4"
xlmr_a = dict(xlmr, **EXTRAS)
xlmr_b = dict(xlmr)  # an older tag: one file differs, the weights and tokenizer are shared
st_cfg = json.loads(xlmr["config_sentence_transformers.json"])
st_cfg["prompts"] = {"query": "query: ", "passage": "passage: ", "old": "old: "}
xlmr_b["config_sentence_transformers.json"] = json.dumps(st_cfg).encode()
hub.add_repo("xling-test/xlmr-tiny", {A: xlmr_a, B: xlmr_b}, {"main": A, "v1": B})
hub.add_repo("xling-test/bert-tiny", {C: dict(bert, **{"2_Dense/pytorch_model.bin": b"x" * 500})}, {"main": C})
hub.add_repo("xling-test/gated", {G: xlmr}, {"main": G}, gated_token="hf_secret_token")
hub.add_repo("xling-test/pt-only", {"e" * 40: {"config.json": xlmr["config.json"], "pytorch_model.bin": b"w" * 100}},
             {"main": "e" * 40})
huge_st = b"H" * 64 + xlmr["model.safetensors"][64:]
hub.add_repo("xling-test/huge", {"f" * 40: {"config.json": xlmr["config.json"], "model.safetensors": huge_st}},
             {"main": "f" * 40})
hub.huge.add(sha256(huge_st))

WANTED = sorted(p for p in xlmr)  # every fixture file is one xling reads (json, safetensors)


def snapshot_ok(repo, commit, files):
    """The snapshot holds exactly `files`, each a relative symlink to blobs/<etag> with the content."""
    rd = repo_dir(repo)
    snap = os.path.join(rd, "snapshots", commit)
    got = sorted(os.path.relpath(os.path.join(r, n), snap) for r, _, ns in os.walk(snap) for n in ns)
    if got != sorted(files):
        print("  snapshot files", got, "want", sorted(files), file=sys.stderr)
        return False
    for p, data in files.items():
        full = os.path.join(snap, p)
        link = os.readlink(full) if os.path.islink(full) else ""
        etag = sha256(data) if (p.endswith((".safetensors", ".pt", ".bin")) or len(data) >= 1 << 20) else git_sha1(data)
        want = "../" * (2 + p.count("/")) + "blobs/" + etag
        if link != want or open(full, "rb").read() != data:
            print("  bad link", p, link, want, file=sys.stderr)
            return False
    return True


def embed(model, env=None):
    return run(["embed", "-m", model, "hello world", "Hallo Welt"], env=env)


# ---------------------------------------------------------------- clean pull
rc, out, err = run(["pull", "xling-test/xlmr-tiny"])
rd = repo_dir("xling-test/xlmr-tiny")
check(rc == 0 and out.strip() == os.path.join(rd, "snapshots", A), "clean pull: rc %d out %r err %s" % (rc, out, err))
check(snapshot_ok("xling-test/xlmr-tiny", A, {p: xlmr[p] for p in WANTED}), "clean pull: the snapshot in huggingface_hub's layout")
check(open(os.path.join(rd, "refs", "main")).read() == A, "clean pull: refs/main holds the commit")
check(not [f for f in os.listdir(os.path.join(rd, "blobs")) if f.endswith(".incomplete")], "clean pull: no .incomplete left")
paths = [r[2] for r in hub.requests()]
check(not any(x in p for p in paths for x in ("pytorch_model", "onnx", "README", "gitattributes", "tf_model")),
      "clean pull: the duplicates and README were not requested: %r" % [p for p in paths if "resolve" in p])
check(any(p.startswith("/api/models/xling-test/xlmr-tiny/revision/main") for p in paths), "clean pull: API call made")
check(any(r[0] == "lfs" for r in hub.requests()), "clean pull: LFS files came from the storage host")
check(not any("authorization" in r[3] for r in hub.requests()), "clean pull: no Authorization sent without a token")

# the same model by id, offline: the vectors of the fixture folder, and not one request
hub.clear_log()
rc1, ref_out, err1 = embed(XLMR)
rc2, id_out, err2 = embed("xling-test/xlmr-tiny", {"HF_HUB_OFFLINE": "1"})
check(rc1 == 0 and rc2 == 0 and ref_out == id_out and ref_out.count("embedding") == 2,
      "embed -m ORG/NAME offline gives the fixture's vectors: %s %s" % (err1, err2))
check(not hub.requests(), "offline embed sent no request")
rc, out, err = run(["tokenize", "-m", "xling-test/xlmr-tiny", "hello"], {"HF_HUB_OFFLINE": "1"})
rc0, out0, _ = run(["tokenize", "-m", XLMR, "hello"])
check(rc == 0 and out == out0, "tokenize -m ORG/NAME: %s" % err)

# the tokenizer's compiled cache does not go into the shared HF cache
xdir = os.path.join(tmp, "home", ".cache", "xling")
os.makedirs(xdir)
# the cache is written only for sources older than the settle window (2 s); the blobs
# were downloaded moments ago, so date them back as a model pulled earlier would be
for f in os.listdir(os.path.join(rd, "blobs")):
    os.utime(os.path.join(rd, "blobs", f), (1.6e9, 1.6e9))
rc, out, err = embed("xling-test/xlmr-tiny", {"HF_HUB_OFFLINE": "1", "XLING_TOKENIZER_CACHE": None})
check(rc == 0 and out == ref_out and not [f for f in os.listdir(os.path.join(rd, "snapshots", A)) if "xlcache" in f]
      and os.path.isdir(xdir) and any(f.endswith(".xlcache") for f in os.listdir(xdir)),
      "tokenizer cache outside the HF snapshot: %s" % err)

# a second pull finds everything in place: only the API call
hub.clear_log()
rc, out, err = run(["pull", "xling-test/xlmr-tiny"])
check(rc == 0 and [r[2].split("?")[0] for r in hub.requests()] == ["/api/models/xling-test/xlmr-tiny/revision/main"],
      "pull again: only the API call: %r %s" % ([r[2] for r in hub.requests()], err))

# ---------------------------------------------------------------- revisions
hub.clear_log()
rc, out, err = run(["pull", "xling-test/xlmr-tiny@v1", "--jobs", "1"])
check(rc == 0 and out.strip() == os.path.join(rd, "snapshots", B), "pull @v1 (a tag): %s" % err)
check(open(os.path.join(rd, "refs", "v1")).read() == B, "pull @v1: refs/v1")
check(snapshot_ok("xling-test/xlmr-tiny", B, xlmr_b), "pull @v1: snapshot")
gets = [r[2] for r in hub.requests() if r[1] == "GET" and "/api/" not in r[2]]
check(gets == ["/xling-test/xlmr-tiny/resolve/%s/config_sentence_transformers.json" % B],
      "pull @v1: only the changed file downloaded, shared blobs reused: %r" % gets)
rc, out, err = run(["embed", "-m", "xling-test/xlmr-tiny@v1", "--prompt", "old", "x"], {"HF_HUB_OFFLINE": "1"})
rc2, out2, _ = run(["embed", "-m", XLMR, "--prefix", "old: ", "x"])
check(rc == 0 and out == out2, "embed -m ORG/NAME@tag uses that revision's files: %s" % err)
rc, out, err = run(["info", "-m", "xling-test/xlmr-tiny@" + A, "--json"], {"HF_HUB_OFFLINE": "1"})
check(rc == 0 and json.loads(out)["architecture"] == "XLMRobertaModel", "info -m ORG/NAME@commit offline: %s" % err)

# commands that read folders themselves (merge, vocab) take ids too
off = {"HF_HUB_OFFLINE": "1"}
rc, out, err = run(["merge", "-o", os.path.join(tmp, "m1"), "--average", "xling-test/xlmr-tiny", "xling-test/xlmr-tiny@v1"], off)
rc2, out2, err2 = run(["merge", "-o", os.path.join(tmp, "m2"), "--average", XLMR, XLMR])
check(rc == 0 and rc2 == 0 and open(os.path.join(tmp, "m1", "model.safetensors"), "rb").read()
      == open(os.path.join(tmp, "m2", "model.safetensors"), "rb").read(), "merge --average ORG/NAME ORG/NAME@tag: %s %s" % (err, err2))
with open(os.path.join(tmp, "add.txt"), "w") as f:
    f.write("xlingtoken\n")
rc, out, err = run(["vocab", "extend", "-m", "xling-test/xlmr-tiny", "--add-tokens", os.path.join(tmp, "add.txt"), "-o", os.path.join(tmp, "v1")], off)
rc2, out2, err2 = run(["vocab", "extend", "-m", XLMR, "--add-tokens", os.path.join(tmp, "add.txt"), "-o", os.path.join(tmp, "v2")])
check(rc == 0 and rc2 == 0 and open(os.path.join(tmp, "v1", "model.safetensors"), "rb").read()
      == open(os.path.join(tmp, "v2", "model.safetensors"), "rb").read(), "vocab extend -m ORG/NAME: %s %s" % (err, err2))
rc, out, err = run(["merge", "-o", os.path.join(tmp, "m3"), "--average", "xling-test/xlmr-tiny", "xling-test/none"], off)
check(rc == 1 and one_line(err, "xling merge:", "xling pull xling-test/none") and not os.path.exists(os.path.join(tmp, "m3")),
      "merge with an uncached id, offline: %s" % err)

# the server: -m ORG/NAME, named by its id
import urllib.request
e = dict(BASE_ENV, HF_HUB_OFFLINE="1")
srv = subprocess.Popen([XLING, "serve", "-m", "xling-test/xlmr-tiny", "--port", "0"], env=e, stderr=subprocess.PIPE, text=True)
info = {}
try:
    for _ in range(20):
        line = srv.stderr.readline()
        if "listening on" in line or not line:
            break
    if "listening on" in line:
        port = line.split("127.0.0.1:")[1].split()[0]
        info = json.loads(urllib.request.urlopen("http://127.0.0.1:%s/info" % port, timeout=60).read())
finally:
    srv.terminate()
    srv.wait(timeout=60)
check(info.get("model_id") == "xling-test/xlmr-tiny", "serve -m ORG/NAME: %r" % info)

# by commit: no ref written
rc, out, err = run(["pull", "xling-test/bert-tiny@" + C])
bd = repo_dir("xling-test/bert-tiny")
check(rc == 0 and out.strip() == os.path.join(bd, "snapshots", C), "pull by commit: %s" % err)
check(not os.path.exists(os.path.join(bd, "refs")) or not os.listdir(os.path.join(bd, "refs")), "pull by commit writes no ref")
check(snapshot_ok("xling-test/bert-tiny", C, bert), "pull by commit: the module folder (2_Dense) came, its .bin did not")
rc1, o1, _ = embed(BERT)
rc2, o2, e2 = embed("xling-test/bert-tiny@" + C, {"HF_HUB_OFFLINE": "1"})
check(rc2 == 0 and o1 == o2, "embed -m ORG/NAME@commit (with a Dense module): %s" % e2)
rc, out, err = embed("xling-test/bert-tiny", {"HF_HUB_OFFLINE": "1"})
check(rc == 1 and one_line(err, "xling-test/bert-tiny", "HF_HUB_OFFLINE", "xling pull xling-test/bert-tiny"),
      "offline, main not cached (only a commit was): says how to pull: %s" % err)

# ---------------------------------------------------------------- list / rm
rc, out, err = run(["info", "-m", XLMR, "--json"])
params = json.loads(out)["parameters"] if rc == 0 else -1
rc, out, err = run(["list", "--json"])
lst = json.loads(out) if rc == 0 else []
by = {(m["id"], m["commit"]): m for m in lst}
mA = by.get(("xling-test/xlmr-tiny", A), {})
size_a = sum(len(xlmr[p]) for p in WANTED)
check(len(lst) == 3 and mA.get("revision") == "main" and mA.get("architecture") == "XLMRobertaModel"
      and mA.get("parameters") == params and mA.get("size_bytes") == size_a
      and mA.get("path") == os.path.join(rd, "snapshots", A), "list --json values: %r (params %d, size %d) %s" % (mA, params, size_a, err))
check(by.get(("xling-test/bert-tiny", C), {}).get("revision", 1) is None, "list --json: a snapshot no ref names has revision null")
check(by.get(("xling-test/xlmr-tiny", B), {}).get("revision") == "v1", "list --json: tag revision")
rc, out, err = run(["list"])
check(rc == 0 and len(out.splitlines()) == 4 and "XLMRobertaModel" in out and "main" in out, "list table: %r" % out)

blobs_before = set(os.listdir(os.path.join(rd, "blobs")))
rc, out, err = run(["rm", "xling-test/xlmr-tiny@v1"])
blobs_after = set(os.listdir(os.path.join(rd, "blobs")))
check(rc == 0 and not os.path.exists(os.path.join(rd, "snapshots", B)) and not os.path.exists(os.path.join(rd, "refs", "v1")),
      "rm @v1: snapshot and ref gone: %s" % err)
check(blobs_before - blobs_after == {git_sha1(xlmr_b["config_sentence_transformers.json"])},
      "rm @v1: only the blob no other revision uses was removed: %r" % (blobs_before - blobs_after))
rc, out, err = embed("xling-test/xlmr-tiny", {"HF_HUB_OFFLINE": "1"})
check(rc == 0 and out == ref_out, "after rm @v1 main still works: %s" % err)
rc, out, err = run(["rm", "xling-test/bert-tiny"])
check(rc == 0 and not os.path.exists(bd), "rm ORG/NAME removes the repository folder: %s" % err)
rc, out, err = run(["rm", "xling-test/bert-tiny"])
check(rc == 1 and one_line(err, "xling rm:", "not in the Hugging Face cache"), "rm of a model not cached: %s" % err)

# ---------------------------------------------------------------- pull on first use
hub.clear_log()
rc, out, err = embed("xling-test/bert-tiny")
check(rc == 0 and out == o1 and "pulling it from " + hub.endpoint in err, "embed -m ORG/NAME pulls a missing model first: %s" % err)
check(os.path.exists(os.path.join(bd, "refs", "main")), "pull on first use wrote refs/main")

# two pulls of one model at the same time: the blob locks keep each file whole
cc = os.path.join(tmp, "cc")
e = dict(BASE_ENV, HF_HUB_CACHE=cc)
procs = [subprocess.Popen([XLING, "pull", "xling-test/xlmr-tiny", "-q"], env=e, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) for _ in range(2)]
res = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
check(all(r[2] == 0 for r in res), "two concurrent pulls both succeed: %r" % [r[1] for r in res])
rdc = repo_dir("xling-test/xlmr-tiny", cc)
check(sorted(os.listdir(os.path.join(rdc, "blobs"))) ==
      sorted(sha256(xlmr[p]) if p.endswith(".safetensors") or len(xlmr[p]) >= 1 << 20 else git_sha1(xlmr[p]) for p in WANTED)
      and open(os.path.join(rdc, "blobs", sha256(xlmr["model.safetensors"])), "rb").read() == xlmr["model.safetensors"],
      "concurrent pulls: every blob once and whole")

# the progress line on a terminal (script(1) gives the command a pseudo-terminal)
if shutil.which("script"):
    shutil.rmtree(cc)
    p = subprocess.run(["script", "-qec", "%s pull xling-test/xlmr-tiny" % XLING, "/dev/null"], env=e,
                       capture_output=True, timeout=300)
    tty = p.stdout.decode("utf-8", "replace")
    check(p.returncode == 0 and "xling-test/xlmr-tiny: 100%" in tty and "MB/s" in tty and "%d/%d files" % (len(WANTED), len(WANTED)) in tty,
          "progress line on a terminal: %r" % tty[-300:])
else:
    print("SKIP progress line: no script(1)", file=sys.stderr)

# a Hub id where other commands take a folder: index (fingerprint, stored model path)
db = os.path.join(tmp, "i.db")
rc, out, err = run(["index", "create", db, "-m", "xling-test/xlmr-tiny"], {"HF_HUB_OFFLINE": "1"})
rc2, out2, err2 = run(["index", "add", db], {"HF_HUB_OFFLINE": "1"}, stdin=b"hello world\n")
rc3, out3, err3 = run(["index", "search", db, "-q", "hello world", "-k", "1"], {"HF_HUB_OFFLINE": "1"})
check(rc == 0 and rc2 == 0 and rc3 == 0 and json.loads(out3)["hits"][0]["text"] == "hello world",
      "index create/add/search -m ORG/NAME: %s %s %s" % (err, err2, err3))

# ---------------------------------------------------------------- errors
hub.clear_log()
rc, out, err = run(["pull", "xling-test/nope"])
check(rc == 1 and one_line(err, "xling pull:", "xling-test/nope", "not found, or private", "HF_TOKEN"), "401 RepoNotFound: %s" % err)
rc, out, err = run(["pull", "xling-test/xlmr-tiny@nope"])
check(rc == 1 and one_line(err, "revision \"nope\" not found"), "404 revision: %s" % err)
rc, out, err = run(["embed", "-m", "xling-test/nope", "x"])
check(rc == 1 and "not found, or private" in err and "Sanitizer" not in err, "embed -m unknown id: %s" % err)
rc, out, err = run(["pull", "xling-test/gated"])
check(rc == 1 and one_line(err, "gated", "HF_TOKEN"), "401 gated: %s" % err)
check(not os.path.exists(os.path.join(repo_dir("xling-test/gated"), "refs")), "gated: no ref written")
hub.clear_log()
rc, out, err = run(["pull", "xling-test/gated"], {"HF_TOKEN": "hf_secret_token"})
check(rc == 0, "gated with HF_TOKEN: %s" % err)
hub_auth = [r[3].get("authorization") for r in hub.requests("hub")]
check(hub_auth and all(a == "Bearer hf_secret_token" for a in hub_auth), "the token goes to the Hub: %r" % hub_auth)
check(hub.requests("lfs") and not any("authorization" in r[3] for r in hub.requests("lfs")),
      "the token never reaches the storage host")
shutil.rmtree(repo_dir("xling-test/gated"))
rc, out, err = run(["pull", "xling-test/gated", "--token", "hf_secret_token"])
check(rc == 0, "gated with --token: %s" % err)
tokfile = os.path.join(tmp, "hf", "token")
with open(tokfile, "w") as f:
    f.write("hf_secret_token\n")
shutil.rmtree(repo_dir("xling-test/gated"))
rc, out, err = run(["pull", "xling-test/gated"])
check(rc == 0, "gated with the token file HF_HOME/token: %s" % err)
os.unlink(tokfile)

rc, out, err = run(["pull", "xling-test/pt-only"])
check(rc == 1 and one_line(err, "no .safetensors"), "a repo without safetensors: %s" % err)
rc, out, err = run(["pull", "xling-test/huge"])
check(rc == 1 and one_line(err, "not enough disk space"), "no space: %s" % err)

# checksum mismatch: nothing of the file left
cache2 = os.path.join(tmp, "c2")
env2 = {"HF_HUB_CACHE": cache2}
hub.corrupt.add(sha256(bert["model.safetensors"]))
rc, out, err = run(["pull", "xling-test/bert-tiny"], env2)
hub.corrupt.clear()
bd2 = repo_dir("xling-test/bert-tiny", cache2)
left = [f for f in os.listdir(os.path.join(bd2, "blobs")) if f.startswith(sha256(bert["model.safetensors"]))]
check(rc == 1 and one_line(err, "model.safetensors", "checksum mismatch"), "checksum mismatch: %s" % err)
check(not left and not os.path.lexists(os.path.join(bd2, "snapshots", C, "model.safetensors")),
      "checksum mismatch leaves nothing of the file: %r" % left)
check(not os.path.exists(os.path.join(bd2, "refs", "main")), "checksum mismatch: no ref")

# a write error (a file size limit: EFBIG, the path a full disk takes): one line, the
# partial download kept for a later resume, no ref
shutil.rmtree(cache2)
e = dict(BASE_ENV, **env2)
p = subprocess.run([XLING, "pull", "xling-test/bert-tiny"], env=e, capture_output=True, timeout=300, preexec_fn=file_size_limit(1 << 20))
err = p.stderr.decode("utf-8", "replace")
inc = os.path.join(bd2, "blobs", sha256(bert["model.safetensors"]) + ".incomplete")
check(p.returncode == 1 and one_line(err, "cannot write", "File too large") and os.path.exists(inc)
      and not os.path.exists(os.path.join(bd2, "refs", "main")), "write error: %s" % err)

# a transfer cut in the middle, resumed by the next pull with a Range request
shutil.rmtree(cache2)
msha = sha256(bert["model.safetensors"])
half = len(bert["model.safetensors"]) // 2
hub.cut[msha] = half
hub.clear_log()
rc, out, err = run(["pull", "xling-test/bert-tiny", "--retries", "0"], env2)
inc = os.path.join(bd2, "blobs", msha + ".incomplete")
check(rc == 1 and one_line(err, "model.safetensors") and os.path.exists(inc) and os.path.getsize(inc) == half,
      "cut mid-file: error, partial download kept (%s): %s" % (os.path.getsize(inc) if os.path.exists(inc) else None, err))
hub.clear_log()
rc, out, err = run(["pull", "xling-test/bert-tiny"], env2)
ranges = [r[3].get("range") for r in hub.requests("lfs") if msha in r[2]]
check(rc == 0 and ranges == ["bytes=%d-" % half], "the next pull resumes with Range: %r %s" % (ranges, err))
check(open(os.path.join(bd2, "blobs", msha), "rb").read() == bert["model.safetensors"], "resumed blob has the content")
check(not os.path.exists(inc), "resumed: .incomplete renamed")
# a storage host that ignores Range: the partial file is dropped and the whole file taken
shutil.rmtree(cache2)
hub.cut[msha] = half
rc, out, err = run(["pull", "xling-test/bert-tiny", "--retries", "0"], env2)
hub.no_range = True
rc2, out2, err2 = run(["pull", "xling-test/bert-tiny"], env2)
hub.no_range = False
check(rc == 1 and rc2 == 0 and open(os.path.join(bd2, "blobs", msha), "rb").read() == bert["model.safetensors"],
      "a 200 answer to a Range request restarts the file: %s" % err2)
# within one run: the retry resumes
shutil.rmtree(cache2)
hub.cut[msha] = 1000
hub.clear_log()
t0 = time.time()
rc, out, err = run(["pull", "xling-test/bert-tiny", "--retries", "2"], env2)
ranges = [r[3].get("range") for r in hub.requests("lfs") if msha in r[2]]
check(rc == 0 and ranges == [None, "bytes=1000-"], "a cut transfer is retried with Range in the same run: %r %s" % (ranges, err))
rc, out, err = embed("xling-test/bert-tiny", dict(env2, HF_HUB_OFFLINE="1"))
check(rc == 0 and out == o1, "resumed model gives the fixture's vectors: %s" % err)

# 503 from the API: retried with backoff
hub.api_fail = 1
shutil.rmtree(cache2)
rc, out, err = run(["pull", "xling-test/bert-tiny", "--retries", "2"], env2)
check(rc == 0 and hub.api_fail == 0, "503 retried: %s" % err)
hub.api_fail = 5
rc, out, err = run(["pull", "xling-test/bert-tiny@main", "--retries", "1"], dict(env2, HF_HUB_CACHE=os.path.join(tmp, "c3")))
check(rc == 1 and one_line(err, "HTTP 503"), "503 after the retries: %s" % err)
hub.api_fail = 0

# network down: retries with backoff, then an error
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
dead = "http://127.0.0.1:%d" % s.getsockname()[1]
s.close()
t0 = time.time()
rc, out, err = run(["pull", "xling-test/bert-tiny", "--retries", "1"], {"HF_ENDPOINT": dead, "HF_HUB_CACHE": os.path.join(tmp, "c4")})
check(rc == 1 and one_line(err, "cannot reach", "after retries") and time.time() - t0 >= 0.9,
      "network down: %s (%.1fs)" % (err, time.time() - t0))

# offline: never the network
hub.clear_log()
rc, out, err = run(["embed", "-m", "xling-test/xlmr-tiny", "x"], {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": os.path.join(tmp, "c5")})
check(rc == 1 and one_line(err, "HF_HUB_OFFLINE", "xling pull xling-test/xlmr-tiny"), "offline miss says how to pull: %s" % err)
rc, out, err = run(["pull", "xling-test/xlmr-tiny"], {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": os.path.join(tmp, "c5")})
check(rc == 1 and one_line(err, "HF_HUB_OFFLINE"), "offline pull of a missing model: %s" % err)
check(not hub.requests(), "offline: no request at all")

# include / exclude
rc, out, err = run(["pull", "xling-test/xlmr-tiny", "--include", "onnx/", "--exclude", "reference.json"],
                   {"HF_HUB_CACHE": os.path.join(tmp, "c6")})
snap6 = out.strip()
check(rc == 0 and os.path.exists(os.path.join(snap6, "onnx", "model.onnx")) and not os.path.exists(os.path.join(snap6, "reference.json"))
      and not os.path.exists(os.path.join(snap6, "pytorch_model.bin")), "--include / --exclude: %s" % err)

# a cache written by hand in huggingface_hub's layout, used in place
hand = os.path.join(tmp, "hand")
hrd = repo_dir("hand/made", hand)
os.makedirs(os.path.join(hrd, "blobs"))
os.makedirs(os.path.join(hrd, "refs"))
with open(os.path.join(hrd, "refs", "main"), "w") as f:
    f.write(G + "\n")
for p, data in xlmr.items():
    etag = sha256(data) if p.endswith(".safetensors") else git_sha1(data)
    with open(os.path.join(hrd, "blobs", etag), "wb") as f:
        f.write(data)
    link = os.path.join(hrd, "snapshots", G, p)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.relpath(os.path.join(hrd, "blobs", etag), os.path.dirname(link)), link)
before = sorted(os.path.join(r, n) for r, _, ns in os.walk(hand) for n in ns)
henv = {"HF_HUB_CACHE": hand, "HF_HUB_OFFLINE": "1"}
rc, out, err = embed("hand/made", henv)
check(rc == 0 and out == ref_out, "a hand-written cache: %s" % err)
rc, out, err = run(["list", "--json"], henv)
hl = json.loads(out) if rc == 0 else []
check(len(hl) == 1 and hl[0]["path"] == os.path.join(hrd, "snapshots", G) and hl[0]["revision"] == "main",
      "the hand-written cache is used in place: %r" % hl)
after = sorted(os.path.join(r, n) for r, _, ns in os.walk(hand) for n in ns)
check(before == after, "nothing copied into or out of the hand-written cache")

# a local folder wins over an id of the same name
work = os.path.join(tmp, "work")
shutil.copytree(BERT, os.path.join(work, "xling-test", "xlmr-tiny"))
rc, out, err = run(["info", "-m", "xling-test/xlmr-tiny", "--json"], {"HF_HUB_OFFLINE": "1"}, cwd=work)
check(rc == 0 and json.loads(out)["architecture"] == "BertModel", "a local folder wins over the Hub id: %s" % err)
hub.clear_log()
rc, out, err = run(["info", "-m", "xling-test/missing"], cwd=work)
check(rc == 1 and one_line(err, "xling-test/missing: not a folder") and not hub.requests(),
      "ORG/NAME whose ORG is a local folder: a mistyped path, never pulled: %s" % err)

# usage errors
for args, words in ((["pull"], "no model id"), (["pull", "not an id"], "not a Hugging Face model id"),
                    (["pull", "a/b", "c/d"], "one model id"), (["pull", "a/b", "--jobs", "0"], "--jobs"),
                    (["pull", "a/b--c"], "not a Hugging Face model id"), (["pull", "a/b@../x"], "bad revision"),
                    (["list", "x"], "unexpected argument"), (["rm"], "no model id"), (["rm", "/tmp/x"], "not a Hugging Face")):
    rc, out, err = run(args)
    check(rc == 2 and one_line(err, *words) and "--help" in err, "usage error %r: %s" % (args, err))
for cmd in ("pull", "list", "rm"):
    rc, out, err = run([cmd, "--help"])
    check(rc == 0 and out.startswith("usage: xling " + cmd), "%s --help" % cmd)

hub.stop()
shutil.rmtree(tmp, ignore_errors=True)
summary("test_hub_cli")
