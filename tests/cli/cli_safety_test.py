"""End-to-end tests of the CLI's data safety and behaviour (issue 10 items 4-5): same
file as input and output refused, temporary-file output, write errors on every command,
line numbers from the start of the input, conflicting options, JSONL details ("id",
--keep-fields, blank lines, BOM), texts as arguments, output formats by extension,
--precision as sentence-transformers' quantize_embeddings, similarity's columns.
Python standard library only. Prints "test_cli_safety: N passed, N failed, N skipped".

Vectors are compared only between runs that embed the same inputs in the same batch
shape (exact equality), or as token ids from `xling tokenize`."""
import functools, json, os, shutil, stat, struct, subprocess, sys, tempfile, unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import XLING, FIX, check, summary, one_line, jsonl  # noqa: E402

run = functools.partial(clitest.run, binary=True)  # stdout as bytes: output formats are compared raw

BERT = os.path.join(FIX, "bert-tiny")     # dim 16, [CLS] ... [SEP], no prompts
XLMR = os.path.join(FIX, "xlmr-tiny")


def read_npy(path):
    data = open(path, "rb").read()
    hlen = struct.unpack("<H", data[8:10])[0]
    d = eval(data[10:10 + hlen].decode("latin1"), {"__builtins__": {}}, {"False": False, "True": True})
    return d, data[10 + hlen:]


def write_npy_f32(path, rows):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), len(rows[0]))
    hdr += " " * (118 - len(hdr)) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        for r in rows:
            f.write(struct.pack("<%df" % len(r), *r))


tmp = tempfile.mkdtemp(prefix="xling-safety-")
T = lambda name: os.path.join(tmp, name)


def put(name, content):
    with open(T(name), "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())
    return T(name)


def leftovers():
    return [f for f in os.listdir(tmp) if ".xling-" in f]


# ---------------------------------------------------------------- data safety
src = put("in.txt", "hello world\nsecond line\n")
orig = open(src, "rb").read()
os.symlink(src, T("link.txt"))
os.link(src, T("hard.txt"))
for out, how in [(src, "same path"), (T("link.txt"), "symlink"), (T("hard.txt"), "hard link"), ("in.txt", "relative path")]:
    rc, _, err = run(["embed", "-m", BERT, "-i", src, "-o", out], cwd=tmp)
    check(rc == 2 and "input" in err and one_line(err) and open(src, "rb").read() == orig, f"-o = -i via {how}: rc={rc} {err!r}")
with open(src, "rb") as f:
    rc, _, err = run(["embed", "-m", BERT, "-o", src], stdin=f, stdout=subprocess.PIPE)
check(rc == 2 and open(src, "rb").read() == orig, f"-o = redirected stdin refused: {err!r}")
rc, _, err = run(["tokenize", "-m", BERT, "-i", src, "-o", T("link.txt")])
check(rc == 2 and open(src, "rb").read() == orig, f"tokenize -o = -i refused: {err!r}")

# A failed run leaves no file, and an existing file as it was.
bad_jsonl = b'{"text": "a"}\n{"text": "b"}\n{"text": 5}\n'
for ext in ["npy", "jsonl", "f32"]:
    rc, _, err = run(["embed", "-m", BERT, "--input-format", "jsonl", "-o", T("new." + ext)], stdin=bad_jsonl)
    check(rc == 1 and "line 3" in err and not os.path.exists(T("new." + ext)) and not leftovers(), f"failed run leaves no {ext}: {err!r} {leftovers()}")
keep = put("keep.npy", b"precious")
os.chmod(keep, 0o640)
rc, _, err = run(["embed", "-m", BERT, "--input-format", "jsonl", "-o", keep], stdin=bad_jsonl)
check(rc == 1 and open(keep, "rb").read() == b"precious" and not leftovers(), "failed run leaves an existing file untouched")
rc, _, err = run(["embed", "-m", BERT, "-o", keep], stdin=b"a\nb\n")
if check(rc == 0, f"success replaces the file {err}"):
    hdr, body = read_npy(keep)
    check(hdr["shape"] == (2, 16) and len(body) == 2 * 16 * 4, f"replaced file complete {hdr}")
    check(stat.S_IMODE(os.stat(keep).st_mode) == 0o640, "the replaced file keeps its mode")
# Writing through a symlink replaces its target, not the link.
os.symlink(keep, T("keep-link.npy"))
rc, _, _ = run(["embed", "-m", BERT, "-o", T("keep-link.npy")], stdin=b"a\n")
check(rc == 0 and os.path.islink(T("keep-link.npy")) and read_npy(keep)[0]["shape"] == (1, 16), "-o through a symlink writes its target")

# Numbering from the start of the input, past the first chunk (2048 inputs), with blank
# JSONL lines counted; on stdout the rows already written are counted.
lines = ['{"input_ids": [101, 102]}'] * 2100
lines[9] = ""                       # blank line 10: skipped, still counted
lines[2099] = '{"input_ids": [101, 99999999, 102]}'
rc, out, err = run(["embed", "-m", BERT, "--input-format", "jsonl"], stdin=("\n".join(lines) + "\n").encode())
check(rc == 1 and "line 2100" in err and "99999999" in err and "2048 rows were written to stdout" in err and one_line(err), f"error past the first chunk: {err!r}")
check(len(jsonl(out)) == 2048, f"the first chunk is on stdout ({len(jsonl(out))} rows)")
lines[2099] = '{"input_ids": []}'
rc, out, err = run(["embed", "-m", BERT, "--input-format", "jsonl"], stdin=("\n".join(lines) + "\n").encode())
check(rc == 1 and "line 2100 has no tokens" in err, f"library message renumbered: {err!r}")
rc, out, err = run(["tokenize", "-m", BERT, "--input-format", "jsonl"], stdin=b'{"text": "a"}\n\n{"input_ids": [1]}\n')
check(rc == 1 and "line 3" in err, f"tokenize names the line: {err!r}")

# Every write error is an error, for every command.
full = open("/dev/full", "wb")
for args, stdin in [(["info", "-m", BERT], None), (["info", "-m", BERT, "--json"], None), (["similarity", "-m", BERT], b"a\nb\n"),
                    (["tokenize", "-m", BERT], b"a\n"), (["embed", "-m", BERT], b"a\n"), (["embed", "-m", BERT, "--format", "npy"], b"a\n"),
                    (["--help"], None), (["--version"], None), (["embed", "--help"], None), (["tokenize", "--help"], None),
                    (["similarity", "--help"], None), (["info", "--help"], None), (["bench-embed", "--help"], None)]:
    p = subprocess.run([XLING] + args, input=stdin, stdout=full, stderr=subprocess.PIPE, timeout=120)
    err = p.stderr.decode()
    check(p.returncode == 1 and "No space left" in err, f"{' '.join(args[:2])} to /dev/full: rc={p.returncode} {err!r}")
for args in [["embed", "-m", BERT, "-o", "/dev/full"], ["tokenize", "-m", BERT, "-o", "/dev/full"]]:
    rc, _, err = run(args, stdin=b"a\n")
    check(rc == 1 and "No space left" in err, f"{args[0]} -o /dev/full: {err!r}")
rc, out, err = run(["embed", "-m", BERT, "-o", "/dev/null"], stdin=b"a\n")
check(rc == 0 and os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode), "-o /dev/null written directly")

# Killed mid-run (SIGTERM, SIGINT): the temporary file goes too.
import signal, time
for sig in [signal.SIGTERM, signal.SIGINT]:
    p = subprocess.Popen([XLING, "embed", "-m", BERT, "-o", T("killed.npy")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"a\n")
    p.stdin.flush()
    for _ in range(200):                # the temporary file exists once the model is loaded
        if leftovers():
            break
        time.sleep(0.05)
    seen = bool(leftovers())
    p.send_signal(sig)
    p.wait(timeout=60)
    p.stdin.close(); p.stdout.close(); p.stderr.close()
    check(seen and p.returncode == -sig and not leftovers() and not os.path.exists(T("killed.npy")), f"signal {sig}: no file left ({seen}, {p.returncode}, {leftovers()})")

# ---------------------------------------------------------------- behaviour
rc, _, err = run([])
check(rc == 2 and one_line(err) and "xling --help" in err, f"no command: {err!r}")
for args, names in [(["--instruct", "t", "--prefix", "p"], ["--instruct", "--prefix"]),
                    (["--instruct", "t", "--prompt", "query"], ["--instruct", "--prompt"]),
                    (["--layers", "--dim", "8"], ["--layers", "--dim"]),
                    (["--layers", "--pooling", "mean"], ["--layers", "--pooling"]),
                    (["-o", T("x.npy"), "--format", "jsonl"], ["--format", "x.npy"]),
                    (["--keep-fields", "-o", T("x.npy")], ["--keep-fields"]),
                    (["--calibration", T("c.npy")], ["--calibration", "int8"])]:
    rc, _, err = run(["embed", "-m", BERT] + args, stdin=b"a\n")
    check(rc == 2 and all(n in err for n in names) and "see `xling embed --help`" in err and one_line(err), f"usage error {args}: {err!r}")
for args in [["--frobnicate"], ["--pooling"], ["-q"], ["--pooling", "median"]]:
    rc, _, err = run(["embed", "-m", BERT] + args, stdin=b"a\n")
    check(rc == 2 and err.startswith("xling embed: ") and "see `xling embed --help`" in err and one_line(err) and XLING not in err,
          f"usage error names the command, not the binary {args}: {err!r}")
rc, _, err = run(["similarity", "-m", BERT, "--instruct", "t", "--prefix", "p"], stdin=b"a\n")
check(rc == 2 and "--instruct" in err and "xling similarity:" in err, f"similarity conflict: {err!r}")
rc, _, err = run(["embed", "-m", BERT, "--input-format", "jsonl"], stdin=b'{"text": "a"}\n{"text": "b", "input_ids": [101, 102]}\n')
check(rc == 1 and "line 2" in err and '"text"' in err and '"input_ids"' in err and one_line(err), f"text and input_ids: {err!r}")

# --instruct without an instruction prompt: warns with what it prepends, which is embedded.
rc, out, err = run(["embed", "-m", BERT, "--instruct", "find it"], stdin=b"a question\n")
rc2, out2, _ = run(["embed", "-m", BERT, "--prefix", "Instruct: find it\nQuery: "], stdin=b"a question\n")
check(rc == 0 and "warning" in err and "Instruct: find it\\nQuery: " in err and out == out2, f"--instruct warning: {err!r}")

# --max-length below the special tokens (BERT adds [CLS] and [SEP]).
for cmd in ["embed", "tokenize"]:
    rc, _, err = run([cmd, "-m", BERT, "--max-length", "1"], stdin=b"a\n")
    check(rc == 2 and "--max-length" in err and "2 special tokens" in err, f"{cmd} --max-length 1: {err!r}")
    rc, _, err = run([cmd, "-m", BERT, "--max-length", "2"], stdin=b"a\n")
    check(rc == 0, f"{cmd} --max-length 2 accepted: {err!r}")

# JSONL: blank lines skipped, BOM accepted, "id" and --keep-fields copied.
rc, out, err = run(["tokenize", "-m", BERT, "--input-format", "jsonl"],
                   stdin=b'\xef\xbb\xbf{"text": "hello world", "id": "a"}\n\n   \n{"id": [1, {"k": null}], "text": "hello", "lang": "en"}\n')
if check(rc == 0, f"tokenize jsonl with BOM and blanks {err}"):
    o = jsonl(out)
    check(len(o) == 2 and o[0]["id"] == "a" and o[1]["id"] == [1, {"k": None}] and "lang" not in o[1], f"tokenize ids copied {o}")
    rc2, out2, _ = run(["tokenize", "-m", BERT], stdin=b"hello world\nhello\n")
    check([x["ids"] for x in o] == [x["ids"] for x in jsonl(out2)], "BOM dropped: same ids as plain text")
rc, out, _ = run(["tokenize", "-m", BERT], stdin=b"\xef\xbb\xbfhello world\n")
check(rc == 0 and jsonl(out)[0]["ids"] == jsonl(out2)[0]["ids"], "BOM dropped from plain text")
rc, out, err = run(["embed", "-m", BERT, "--input-format", "jsonl", "--keep-fields"],
                   stdin=b'{"id": 7, "text": "hello", "lang": "en", "meta": {"x": [1, 2]}}\n\n{"input_ids": [101, 102], "id": null}\n')
if check(rc == 0, f"embed --keep-fields {err}"):
    o = jsonl(out)
    check(len(o) == 2 and list(o[0].keys()) == ["id", "lang", "meta", "embedding"] and o[0]["meta"] == {"x": [1, 2]}
          and o[1]["id"] is None and len(o[0]["embedding"]) == 16, f"embed fields {o}")
rc, _, err = run(["embed", "-m", BERT, "--input-format", "jsonl", "--keep-fields"], stdin=b'{"text": "a", "embedding": 1}\n')
check(rc == 1 and "embedding" in err and "line 1" in err, f"kept field clashing with the output: {err!r}")
rc, out, _ = run(["embed", "-m", BERT, "--input-format", "jsonl"], stdin=b'{"text": "a", "lang": "en"}\n')
check(rc == 0 and list(jsonl(out)[0].keys()) == ["embedding"], "without --keep-fields only id is copied")

# Texts as arguments: the same vectors as the same lines on stdin (same batch).
rc, out, err = run(["embed", "-m", BERT, "first text", "second text"])
rc2, out2, _ = run(["embed", "-m", BERT], stdin=b"first text\nsecond text\n")
check(rc == 0 and len(jsonl(out)) == 2 and out == out2, f"texts as arguments {err}")
rc, out, _ = run(["tokenize", "-m", BERT, "hello world", "x"])
rc2, out2, _ = run(["tokenize", "-m", BERT], stdin=b"hello world\nx\n")
check(rc == 0 and out == out2 and len(jsonl(out)) == 2, "tokenize texts as arguments")
rc, _, err = run(["embed", "-m", BERT, "-i", src, "extra"])
check(rc == 2 and "-i" in err, f"arguments and -i: {err!r}")
rc, _, err = run(["embed", "-m", BERT, "ok", ""])
check(rc == 0, f"an empty argument is an empty text {err}")

# Trailing \r stripped: compared as token ids (issue 9 item 4).
rc, out, _ = run(["tokenize", "-m", BERT], stdin=b"hello world\r\nhello world\n")
check(rc == 0 and jsonl(out)[0]["ids"] == jsonl(out)[1]["ids"], "trailing \\r stripped")

# Output format from the extension, any case.
base_rc, base, _ = run(["embed", "-m", BERT], stdin=b"a\nb\n")
ref_rows = [r["embedding"] for r in jsonl(base)]
for name, kind in [("o.NPY", "npy"), ("o.Npy", "npy"), ("o.F32", "f32"), ("o.JSONL", "jsonl"), ("o.txt", "jsonl")]:
    rc, _, err = run(["embed", "-m", BERT, "-o", T(name)], stdin=b"a\nb\n")
    data = open(T(name), "rb").read() if rc == 0 else b""
    if kind == "npy":
        ok = data[:6] == b"\x93NUMPY"
    elif kind == "f32":
        ok = len(data) == 2 * 16 * 4 and max(abs(a - b) for a, b in zip(struct.unpack("<32f", data), ref_rows[0] + ref_rows[1])) < 1e-6
    else:
        ok = [r["embedding"] for r in jsonl(data)] == ref_rows
    check(rc == 0 and ok, f"-o {name} writes {kind} {err}")
rc, _, err = run(["embed", "-m", BERT, "-o", T("o2.npy"), "--format", "npy"], stdin=b"a\n")
check(rc == 0, "--format agreeing with the extension")


# --precision, against quantize_embeddings computed here in float32 from the float32 run.
def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def np_low_byte(v, signed):
    """numpy float32 -> (u)int8 astype on x86-64: truncate to int32, keep the low byte."""
    i = -2 ** 31 if v != v or v >= 2 ** 31 or v < -2 ** 31 else int(v)
    b = i & 0xFF
    return b - 256 if signed and b > 127 else b


def ranges(rows):
    d = len(rows[0])
    lo = [min(r[j] for r in rows) for j in range(d)]
    hi = [max(r[j] for r in rows) for j in range(d)]
    return lo, [f32(f32(h - l) / 255) for l, h in zip(lo, hi)]


def quantize(rows, prec, rng=None):
    if prec in ("int8", "uint8"):
        start, step = rng or ranges(rows)
        out = []
        for r in rows:
            q = [f32(f32(x - s) / t) if t else float("nan") for x, s, t in zip(r, start, step)]
            out.append([np_low_byte(f32(v - 128), True) for v in q] if prec == "int8" else [np_low_byte(v, False) for v in q])
        return out
    if prec in ("binary", "ubinary"):
        out = []
        for r in rows:
            bits = [int(x > 0) for x in r]
            by = [int("".join(map(str, bits[k:k + 8])), 2) for k in range(0, len(bits), 8)]
            out.append([b - 128 for b in by] if prec == "binary" else by)
        return out
    if prec == "float16":
        return [[struct.unpack("<e", struct.pack("<e", x))[0] for x in r] for r in rows]
    return rows


texts = "".join(f"sentence number {i} about {w}\n" for i, w in enumerate(["cats", "dogs", "rain", "tea", "snow", "maps", "jazz", "code"] * 3)).encode()
rc, out, _ = run(["embed", "-m", BERT], stdin=texts)
rows = [[f32(x) for x in r["embedding"]] for r in jsonl(out)]
dtypes = {"float32": ("<f4", "<f"), "float16": ("<f2", "<e"), "int8": ("|i1", "b"), "uint8": ("|u1", "B"), "binary": ("|i1", "b"), "ubinary": ("|u1", "B")}
for prec, (descr, code) in dtypes.items():
    exp = quantize(rows, prec)
    rc, out, err = run(["embed", "-m", BERT, "--precision", prec], stdin=texts)
    if check(rc == 0, f"--precision {prec} jsonl {err}"):
        got = [r["embedding"] for r in jsonl(out)]
        # floats print with %.9g: back to float32 they are the exact values
        same = got == exp if prec not in ("float32", "float16") else [[f32(x) for x in r] for r in got] == exp
        check(same, f"--precision {prec} jsonl values: {got[0][:6]} vs {exp[0][:6]}")
        if prec in ("int8", "uint8", "binary", "ubinary"):
            check(all(isinstance(v, int) for r in got for v in r), f"--precision {prec} jsonl integers")
    rc, _, err = run(["embed", "-m", BERT, "--precision", prec, "-o", T(prec + ".npy")], stdin=texts)
    if check(rc == 0, f"--precision {prec} npy {err}"):
        hdr, body = read_npy(T(prec + ".npy"))
        width = len(exp[0])
        vals = struct.unpack("<%d%s" % (len(exp) * width, code[-1]), body)
        check(hdr["descr"] == descr and hdr["shape"] == (len(exp), width), f"--precision {prec} npy header {hdr}")
        check(list(vals) == [v for r in exp for v in r], f"--precision {prec} npy values")
# --calibration: ranges from a file; values outside them wrap as numpy's astype does.
calib = [[x * 0.5 for x in r] for r in rows[:6]]
write_npy_f32(T("calib.npy"), calib)
lo, hi = [min(c[j] for c in calib) for j in range(16)], [max(c[j] for c in calib) for j in range(16)]
crng = (lo, [f32(f32(h - l) / 255) for l, h in zip(lo, hi)])
for prec in ["uint8", "int8"]:
    rc, out, err = run(["embed", "-m", BERT, "--precision", prec, "--calibration", T("calib.npy")], stdin=texts)
    check(rc == 0 and [r["embedding"] for r in jsonl(out)] == quantize(rows, prec, crng) and "wrapped" in err, f"--calibration {prec}: {err!r}")
write_npy_f32(T("calib8.npy"), [r[:8] for r in calib])
rc, _, err = run(["embed", "-m", BERT, "--precision", "int8", "--calibration", T("calib8.npy")], stdin=b"a\n")
check(rc == 1 and "8 dimensions" in err and "16" in err, f"calibration of the wrong width: {err!r}")
rc, _, err = run(["embed", "-m", BERT, "--precision", "int8", "--calibration", T("in.txt")], stdin=b"a\n")
check(rc == 1 and "in.txt" in err and one_line(err), f"calibration not a .npy: {err!r}")
rc, _, err = run(["embed", "-m", BERT, "--precision", "binary", "--dim", "12"], stdin=b"a\n")
check(rc == 2 and "multiple of 8" in err, f"binary with dim 12: {err!r}")
rc, _, err = run(["embed", "-m", BERT, "--precision", "float64"], stdin=b"a\n")
check(rc == 2 and "--precision" in err, "unknown precision")


# similarity: columns aligned by display width; embed's model options.
def width(s):
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


sim_in = "日本語のテキストです、長いです\nCafe\u0301 au lait\nplain ascii text that is long\n한국어\n".encode()
rc, out, err = run(["similarity", "-m", XLMR], stdin=sim_in)
if check(rc == 0, f"similarity table {err}"):
    rows_txt = out.decode().splitlines()[1:]
    # Columns: the display width up to the last number's end is the same on every row.
    check(len(set(width(l) for l in rows_txt)) == 1 and len(rows_txt) == 4, f"similarity rows have one display width: {[width(l) for l in rows_txt]}")
rc, out1, _ = run(["similarity", "-m", XLMR, "--json"], stdin=b"a cat\na dog\n")
rc2, out2, err = run(["similarity", "-m", XLMR, "--json", "--pooling", "cls", "--dim", "8", "--max-length", "3"], stdin=b"a cat\na dog\n")
check(rc == 0 and rc2 == 0 and json.loads(out1)[0][1] != json.loads(out2)[0][1], f"similarity takes embed's model options {err}")
rc, out, _ = run(["similarity", "-m", XLMR, "--json", "a cat", "a dog"])
check(rc == 0 and out == out1, "similarity texts as arguments")

shutil.rmtree(tmp, ignore_errors=True)
summary("test_cli_safety")
