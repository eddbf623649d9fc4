"""What the CLI test scripts (tests/cli/*_test.py) share: where the binary, the
repository and the fixtures are, the check / skip counters and the summary line
tests/run_tests.sh reads ("NAME: N passed, N failed, N skipped"), running `xling`, and
the small readers and comparisons most scripts use. Python standard library only.

A script imports it from its own folder:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from clitest import ROOT, XLING, check, run, summary  # noqa: E402"""
import json, os, resource, signal, struct, subprocess, sys

ROOT = os.environ.get("XLING_ROOT", os.getcwd())
# absolute: some tests run xling in another working directory
XLING = os.path.abspath(os.environ.get("XLING_BIN", os.path.join(ROOT, "build", "xling")))
SHARED = os.environ.get("XLING_SHARED", os.path.join(ROOT, "..", "shared"))
FIX = os.path.join(ROOT, "tests", "fixtures", "models")               # in the repository
SHARED_FIX = os.path.join(SHARED, "fixtures", "models")               # ../shared: may be absent
SHARED_TOK = os.path.join(SHARED, "fixtures", "tokenizers", "models")

passed = failed = skipped = 0


def check(cond, what):
    """Counts one check; a failed one prints "FAIL what" on stderr. Returns cond."""
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL", what, file=sys.stderr)
    return cond


def skip(what, why=None):
    """Counts one skipped check and says why on stderr."""
    global skipped
    skipped += 1
    print("SKIP", what, *([why] if why is not None else []), file=sys.stderr)


def summary(name):
    """Prints the summary line run_tests.sh reads and exits (1 when a check failed)."""
    print("%s: %d passed, %d failed, %d skipped" % (name, passed, failed, skipped))
    sys.exit(1 if failed else 0)


def run(args, stdin=None, env=None, cwd=None, timeout=600, preexec=None, binary=False, errors="strict",
        stdout=None, exe=None):
    """Runs `xling args` -> (exit code, stdout, stderr). stdin: str (sent as UTF-8), bytes,
    or an open file; env: variables set over os.environ (None removes one); stdout: a
    file to write to instead of capturing (then "" / b"" comes back). stdout is decoded
    as UTF-8 with `errors` unless binary; stderr always with "replace" (a sanitizer
    report or a bad byte in a message must not hide the result)."""
    e = None
    if env is not None:
        e = dict(os.environ)
        e.update(env)
        e = {k: v for k, v in e.items() if v is not None}
    kw = {}
    if hasattr(stdin, "fileno"):
        kw["stdin"] = stdin
    else:
        kw["input"] = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    p = subprocess.run([exe or XLING] + list(args), stdout=stdout if stdout is not None else subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e, cwd=cwd, timeout=timeout, preexec_fn=preexec, **kw)
    out = p.stdout or b""
    return p.returncode, out if binary else out.decode("utf-8", errors), p.stderr.decode("utf-8", "replace")


def lines_of(err):
    """The non-blank lines of a text."""
    return [l for l in err.splitlines() if l.strip()]


def one_line(err):
    """The error output is exactly one non-blank line."""
    return len(lines_of(err)) == 1


def one_line_error(rc, err, want_rc, *words):
    """Exit code want_rc and a single line on stderr holding every word, no sanitizer
    report. A miss prints what came instead."""
    ls = lines_of(err)
    ok = rc == want_rc and len(ls) == 1 and all(w in ls[0] for w in words) and "Sanitizer" not in err
    if not ok:
        print("    got rc %d: %r" % (rc, err[:400]), file=sys.stderr)
    return ok


def jsonl(out):
    """The JSON objects of a JSONL output (str or bytes), blank lines skipped."""
    if isinstance(out, bytes):
        out = out.decode("utf-8")
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_npy(path):
    """(header dict, rows as lists of floats) of a little-endian float32 .npy file."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", "bad magic"
    hlen = struct.unpack("<H", data[8:10])[0]
    d = eval(data[10:10 + hlen].decode("latin1"), {"__builtins__": {}}, {"False": False, "True": True})
    rows, cols = d["shape"][0], 1
    for k in d["shape"][1:]:
        cols *= k
    vals = struct.unpack("<%df" % (rows * cols), data[10 + hlen:])
    return d, [list(vals[i * cols:(i + 1) * cols]) for i in range(rows)]


def read_safetensors(path):
    """({name: (dtype, shape, bytes)}, header length) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    h = json.loads(data[8:8 + n])
    base = 8 + n
    return {k: (v["dtype"], v["shape"], data[base + v["data_offsets"][0]:base + v["data_offsets"][1]])
            for k, v in h.items() if k != "__metadata__"}, n


def file_size_limit(nbytes):
    """A preexec for run(): the files xling writes stop at nbytes, a full disk (SIGXFSZ
    ignored, so a write past the limit fails with EFBIG instead of killing xling)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return limit


def maxdiff(a, b):
    """Largest absolute difference of two vectors; inf when their lengths differ."""
    if len(a) != len(b):
        return float("inf")
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def unit(v):
    s = dot(v, v) ** 0.5
    return [x / s for x in v] if s else list(v)
