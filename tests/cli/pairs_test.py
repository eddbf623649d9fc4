"""`xling tokenize` on JSONL lines with "text_pair": ids and type_ids equal the Rust
tokenizers crate's (tests/fixtures/tokenizers/pairs.jsonl, made by
tests/tools/gen_pair_fixture.js) for the six reference tokenizers of ../shared, with and
without special tokens and with --max-length (longest_first); single lines print no
type_ids; "text_pair" is refused where it is not read; errors are one line.
Prints "test_pairs_cli: N passed, N failed, N skipped" last."""
import json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import ROOT, FIX, SHARED_TOK, check, skip, summary, run  # noqa: E402

TOK = SHARED_TOK


fixture = [json.loads(l) for l in open(os.path.join(ROOT, "tests", "fixtures", "tokenizers", "pairs.jsonl"), encoding="utf-8")]
if not os.path.isdir(TOK):
    skip("pairs: ../shared is absent")
else:
    groups = {}
    for f in fixture:
        if "+" in f["tokenizer"]:
            continue  # post-processor variants: covered by tests/test_tokenizer_pairs.c
        groups.setdefault((f["tokenizer"], f["special"], f["max_len"]), []).append(f)
    for (name, special, max_len), rows in sorted(groups.items()):
        args = ["tokenize", "-m", os.path.join(TOK, name), "--input-format", "jsonl"]
        if not special:
            args.append("--no-special")
        if max_len:
            args += ["--max-length", str(max_len)]
        stdin = "".join(json.dumps({"id": i, "text": r["a"], "text_pair": r["b"]}) + "\n" for i, r in enumerate(rows))
        rc, out, err = run(args, stdin.encode())
        got = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
        same = len(got) == len(rows) and all(g["id"] == i and g["ids"] == r["ids"] and g["type_ids"] == r["type_ids"]
                                             for i, (g, r) in enumerate(zip(got, rows)))
        check(same, "%s special=%s max=%s: %d/%d lines as the crate (%s)" % (name, special, max_len,
              sum(1 for g, r in zip(got, rows) if g.get("ids") == r["ids"] and g.get("type_ids") == r["type_ids"]), len(rows), err))

# single lines: no type_ids; "text_pair" only where read; bad values
bert = os.path.join(FIX, "bert-tiny")
rc, out, err = run(["tokenize", "-m", bert, "--input-format", "jsonl"], b'{"text": "hello"}\n{"text": "hello", "text_pair": "world"}\n')
lines = [json.loads(l) for l in out.splitlines()] if rc == 0 else [{}, {}]
check(rc == 0 and "type_ids" not in lines[0] and lines[1]["type_ids"][-1] == 1, "type_ids only for pairs: %s" % err)
rc, out, err = run(["tokenize", "-m", bert, "--input-format", "jsonl", "--keep-fields"], b'{"text": "a", "text_pair": "b", "lang": "en"}\n')
check(rc == 0 and json.loads(out)["lang"] == "en" and "text_pair" not in json.loads(out), "--keep-fields leaves text_pair out")
for args, stdin, words in [
    (["embed", "-m", bert, "--input-format", "jsonl"], b'{"text": "a", "text_pair": "b"}\n', ["line 1", "text_pair", "not read"]),
    (["tokenize", "-m", bert, "--input-format", "jsonl"], b'{"text": "a"}\n{"text": "a", "text_pair": 3}\n', ["line 2", "text_pair", "string"]),
    (["tokenize", "-m", bert, "--input-format", "jsonl"], b'{"input_ids": [1], "text_pair": "b"}\n', ["line 1", "input_ids"]),
    (["tokenize", "-m", bert, "--input-format", "jsonl", "--max-length", "2"], b'{"text": "a", "text_pair": "b"}\n', ["line 1", "special tokens"]),
]:
    rc, out, err = run(args, stdin)
    check(rc == 1 and len(err.strip().splitlines()) == 1 and all(w in err for w in words) and not out.strip(),
          "error %r: rc %d %r" % (stdin, rc, err))
summary("test_pairs_cli")
