"""examples/embed.c against `xling embed` on bert-tiny: the same texts (arguments and
stdin) give the same vectors (max abs 1e-6: both print or store float32; the example
prints 9 significant digits); a missing model folder is one line on stderr, exit 1. Prints "test_example: N passed, N failed, N skipped" last."""
import os, struct, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import ROOT, XLING, FIX, check, summary  # noqa: E402

EXAMPLE = os.path.join(os.path.dirname(XLING), "examples", "embed")
MODEL = os.path.join(FIX, "bert-tiny")


texts = ["Hello world", "Ein kleiner Test.", "東京は大きい", "x"]
ref = subprocess.run([XLING, "embed", "-m", MODEL, "--format", "f32"], input="\n".join(texts).encode() + b"\n",
                     capture_output=True, timeout=120)
check(ref.returncode == 0, f"xling embed: {ref.stderr!r}")
floats = struct.unpack(f"<{len(ref.stdout) // 4}f", ref.stdout)
dim = len(floats) // len(texts)
want = [floats[i * dim:(i + 1) * dim] for i in range(len(texts))]

for how, args, stdin in (("arguments", texts, None), ("stdin", [], "\n".join(texts) + "\n")):
    p = subprocess.run([EXAMPLE, MODEL] + args, input=stdin.encode() if stdin else None, capture_output=True, timeout=120)
    if not check(p.returncode == 0, f"example ({how}) exit {p.returncode}: {p.stderr!r}"):
        continue
    rows = [list(map(float, line.split())) for line in p.stdout.decode().splitlines()]
    check(len(rows) == len(texts), f"example ({how}): {len(rows)} rows for {len(texts)} texts")
    for i, (got, exp) in enumerate(zip(rows, want)):
        d = max(abs(a - b) for a, b in zip(got, exp)) if len(got) == len(exp) else float("inf")
        check(d <= 1e-6, f"example ({how}) text {i}: max abs diff {d} from xling embed")

p = subprocess.run([EXAMPLE, os.path.join(ROOT, "no-such-model"), "x"], capture_output=True, timeout=60)
check(p.returncode == 1 and len(p.stderr.decode().strip().splitlines()) == 1, f"missing model: {p.stderr!r}")
summary("test_example")
