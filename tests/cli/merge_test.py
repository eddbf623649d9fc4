"""End-to-end tests of `xling merge` on the xlmr-tiny fixture and a perturbed copy of it
(layer 0's intermediate.dense.weight changed, F16): averaged tensor bytes equal Python's
own round-to-nearest-even F16 of the exact weighted mean (struct 'e'), every other tensor
is bit-identical; a model averaged with itself, sharded or stored as F32 embeds exactly
as the original (same JSONL bytes); swapping layer 0 from the perturbed copy embeds as
the copy, layer 1 as the original; --dry-run lists the right source per tensor; the
shared fixtures (when present) add a Dense-module model (gemma3-tiny) and a decoder
(llama-bi-tiny, --swap-embeddings). Bad input: an existing OUT (refused, then --force),
another architecture, a layer out of range, bad option values, a truncated checkpoint
and a full disk (RLIMIT_FSIZE): one-line errors, exit 1 (2 for usage), no OUT and no
temporary folder left, an old OUT untouched. Python standard library only.
Prints "test_merge_cli: N passed, N failed, N skipped" last."""
import hashlib, json, os, re, shutil, struct, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import FIX, SHARED_FIX, check, skip, summary, run, one_line_error, read_safetensors, file_size_limit  # noqa: E402

MODEL = os.path.join(FIX, "xlmr-tiny")
OTHER = os.path.join(FIX, "bert-tiny")
TEXTS = ["hello world", "Die Katze schläft auf dem Sofa.", "un deux trois"]


def embed(model):
    rc, out, err = run(["embed", "-m", model] + TEXTS)
    return out if rc == 0 else "error: " + err


def write_st(path, tensors):
    """Writes {name: (dtype, shape, bytes)} as a safetensors file (file order = dict order)."""
    header, off = {}, 0
    for k, (dt, shape, b) in tensors.items():
        header[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
    hj = json.dumps(header).encode()
    hj += b" " * (-(8 + len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(t[2] for t in tensors.values()))


def tree_digest(d):
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(d)):
        dirs.sort()
        for fn in sorted(files):
            p = os.path.join(root, fn)
            h.update(os.path.relpath(p, d).encode())
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def no_temp(d):
    return not [n for n in os.listdir(d) if ".tmp-" in n]


tmp = tempfile.mkdtemp(prefix="xl_merge_cli_")
P = lambda name: os.path.join(tmp, name)

# --- the perturbed copy B: layer 0's intermediate.dense.weight changed
PERT = "encoder.layer.0.intermediate.dense.weight"
shutil.copytree(MODEL, P("B"))
for f in os.listdir(P("B")):
    if f.endswith(".xlcache"):
        os.remove(os.path.join(P("B"), f))
ta, _ = read_safetensors(os.path.join(MODEL, "model.safetensors"))
with open(os.path.join(MODEL, "model.safetensors"), "rb") as f:
    _n = struct.unpack("<Q", f.read(8))[0]
    ta_offsets = {k: v["data_offsets"][0] for k, v in json.loads(f.read(_n)).items() if k != "__metadata__"}
tb = dict(ta)
dt, shape, raw = ta[PERT]
vals = struct.unpack("<%de" % (len(raw) // 2), raw)
newv = [v + 0.25 * ((i % 5) - 2) for i, v in enumerate(vals)]
tb[PERT] = (dt, shape, struct.pack("<%de" % len(newv), *newv))
write_st(os.path.join(P("B"), "model.safetensors"), tb)
vals_b = struct.unpack("<%de" % len(newv), tb[PERT][2])
e_a, e_b = embed(MODEL), embed(P("B"))
check(e_a.startswith("{") and e_b.startswith("{") and e_a != e_b, "the perturbed copy embeds differently: %s %s" % (e_a[:80], e_b[:80]))

# --- average with weights 1,3: the perturbed tensor is F16(0.25 a + 0.75 b), the rest A's bytes
rc, out, err = run(["merge", "-o", P("avg"), "--average", MODEL, P("B"), "--weights", "1,3"])
check(rc == 0 and "wrote" in err, "merge --average: %s" % err)
tm, hl = read_safetensors(os.path.join(P("avg"), "model.safetensors"))
check(hl % 8 == 0 and set(tm) == set(ta), "output tensors and header alignment")
want = struct.pack("<%de" % len(vals), *[0.25 * a + 0.75 * b for a, b in zip(vals, vals_b)])
check(tm.get(PERT, (0, 0, b""))[2] == want, "averaged tensor = F16 round-to-nearest-even of the weighted mean")
check(all(tm[k] == ta[k] for k in ta if k != PERT), "every other tensor bit-identical to the inputs'")
for f in ("tokenizer.json", "config.json", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json",
          "config_sentence_transformers.json", "tokenizer_config.json"):
    with open(os.path.join(MODEL, f), "rb") as x, open(os.path.join(P("avg"), f), "rb") as y:
        check(x.read() == y.read(), "%s copied unchanged" % f)
e_avg = embed(P("avg"))
check(e_avg.startswith("{") and e_avg not in (e_a, e_b), "the average embeds, differently from both inputs")

# --- a model averaged with itself: the same embeddings; sharded; stored as F32
rc, out, err = run(["merge", "-o", P("self"), "--average", MODEL, MODEL])
check(rc == 0 and embed(P("self")) == e_a, "average of a model with itself embeds as the model: %s" % err)
rc, out, err = run(["merge", "-o", P("shard"), "--average", MODEL, MODEL, "--max-shard-size", "2MB"])
names = sorted(os.listdir(P("shard"))) if rc == 0 else []
shards = [n for n in names if n.startswith("model-")]
# transformers' rule over the file order: a new shard when the next tensor would pass 2 MB
n_want, size, in_shard = 1, 0, 0
for k in sorted(ta, key=lambda k: ta_offsets[k]):
    b = len(ta[k][2])
    if in_shard and size + b > 2_000_000:
        n_want, size, in_shard = n_want + 1, 0, 0
    size, in_shard = size + b, in_shard + 1
check(rc == 0 and shards == ["model-%05d-of-%05d.safetensors" % (i + 1, n_want) for i in range(n_want)]
      and n_want >= 3 and "model.safetensors" not in names, "sharded at 2MB: %s %s" % (names, err))
if rc == 0:
    idx = json.load(open(os.path.join(P("shard"), "model.safetensors.index.json")))
    sizes = [os.path.getsize(os.path.join(P("shard"), s)) for s in shards]
    check(set(idx["weight_map"]) == set(ta) and set(idx["weight_map"].values()) == set(shards)
          and idx["metadata"]["total_size"] == sum(len(t[2]) for t in ta.values()), "index json")
    # the 8 MB word embeddings exceed 2 MB alone: every other shard stays within the limit
    check(sum(1 for s in sizes if s > 2_000_000 + 65536) == 1, "shard sizes %s" % sizes)
    check(embed(P("shard")) == e_a, "the sharded merge embeds as the model")
rc, out, err = run(["merge", "-o", P("f32"), "--average", MODEL, MODEL, "--dtype", "f32"])
t32, _ = read_safetensors(os.path.join(P("f32"), "model.safetensors")) if rc == 0 else ({}, 0)
check(rc == 0 and all(v[0] == "F32" for v in t32.values()) and
      json.load(open(os.path.join(P("f32"), "config.json"))).get("torch_dtype") == "float32", "--dtype f32: %s" % err)
check(rc == 0 and embed(P("f32")) == e_a, "F32 copy embeds as the F16 model (F16 -> F32 is exact)")

# OUT inside an input folder: the folder being built is not copied into itself
shutil.copytree(MODEL, P("inner"))
rc, out, err = run(["merge", "-o", os.path.join(P("inner"), "merged"), "--average", P("inner"), P("inner")])
check(rc == 0 and not os.path.exists(os.path.join(P("inner"), "merged", "merged"))
      and os.path.exists(os.path.join(P("inner"), "merged", "tokenizer.json")), "OUT inside an input: %s" % err)

# --- swapping layers
rc, out, err = run(["merge", "-o", P("sw0"), "--base", MODEL, "--swap", P("B"), "--layers", "0"])
check(rc == 0 and embed(P("sw0")) == e_b, "layer 0 from B embeds as B: %s" % err)
rc, out, err = run(["merge", "-o", P("sw1"), "--base", MODEL, "--swap", P("B"), "--layers", "1"])
check(rc == 0 and embed(P("sw1")) == e_a, "layer 1 from B embeds as A: %s" % err)
rc, out, err = run(["merge", "--dry-run", "--base", MODEL, "--swap", P("B"), "--layers", "0", "--swap-embeddings"])
rows = [l.split("\t") for l in out.splitlines()]
src = {r[0]: r[1] for r in rows if len(r) == 2}
from_b = sorted(k for k, v in src.items() if v == P("B"))
want_b = sorted(k for k in ta if k.startswith("encoder.layer.0.") or k.startswith("embeddings."))
check(rc == 0 and len(rows) == len(ta) and from_b == want_b and all(v == MODEL for k, v in src.items() if k not in want_b),
      "dry run sources: %s" % err)
check("%d from" % len(want_b) in err and "nothing written" in err and not os.path.exists(P("dry")), "dry-run summary: %s" % err)

# --- bad input
os.makedirs(P("taken"))
open(P("taken/keep.txt"), "w").write("old")
rc, out, err = run(["merge", "-o", P("taken"), "--average", MODEL, MODEL])
check(one_line_error(rc, err, 1, "already exists", "--force") and os.listdir(P("taken")) == ["keep.txt"], "OUT exists: %s" % err)
rc, out, err = run(["merge", "-o", P("taken"), "--average", MODEL, MODEL, "--force"])
check(rc == 0 and not os.path.exists(P("taken/keep.txt")) and embed(P("taken")) == e_a and no_temp(tmp), "--force replaces OUT: %s" % err)
rc, out, err = run(["merge", "-o", P("e"), "--average", MODEL, OTHER])
check(one_line_error(rc, err, 1, "XLMRobertaModel", "BertModel") and not os.path.exists(P("e")), "other architecture: %s" % err)
rc, out, err = run(["merge", "-o", P("e"), "--base", MODEL, "--swap", P("B"), "--layers", "0-5"])
check(one_line_error(rc, err, 1, "layer 2 is outside the model", "2 layers (0-1)") and not os.path.exists(P("e")), "layer range: %s" % err)
for args, words in [
    (["--average", MODEL, MODEL], ["-o OUT is required"]),
    (["-o", P("e"), "--average", MODEL], ["at least two"]),
    (["-o", P("e"), "--average", MODEL, MODEL, "--weights", "1,2,3"], ["3 values for 2 folders"]),
    (["-o", P("e"), "--average", MODEL, MODEL, "--weights", "1,x"], ["--weights", "1,x"]),
    (["-o", P("e"), "--average", MODEL, MODEL, "--dtype", "f8"], ["--dtype", "f8"]),
    (["-o", P("e"), "--average", MODEL, MODEL, "--max-shard-size", "5XB"], ["--max-shard-size", "5XB"]),
    (["-o", P("e"), "--base", MODEL, "--swap", P("B"), "--layers", "3-1"], ["--layers", "3-1"]),
    (["-o", P("e"), "--base", MODEL, "--swap", P("B"), "--layers", "0,,1"], ["--layers"]),
    (["-o", P("e"), "--base", MODEL, "--swap", P("B")], ["--layers LIST is required"]),
    (["-o", P("e"), "--average", MODEL, MODEL, "--base", MODEL], ["two different merges"]),
    (["-o", P("e")], ["--average"]),
    (["-o", P("e"), "--average", MODEL, MODEL, "--bogus"], ["unknown option --bogus"]),
]:
    rc, out, err = run(["merge"] + args)
    check(one_line_error(rc, err, 2, "xling merge:", *words) and not os.path.exists(P("e")), "usage %s: %s" % (args, err))

# a truncated checkpoint: named, nothing written
shutil.copytree(P("B"), P("trunc"))
with open(os.path.join(P("trunc"), "model.safetensors"), "r+b") as f:
    f.truncate(4_000_000)
rc, out, err = run(["merge", "-o", P("e"), "--average", MODEL, P("trunc")])
check(one_line_error(rc, err, 1, "trunc/model.safetensors", "truncated") and not os.path.exists(P("e")), "truncated input: %s" % err)
os.chmod(os.path.join(P("trunc"), "model.safetensors"), 0)
if os.geteuid() != 0:
    rc, out, err = run(["merge", "-o", P("e"), "--average", MODEL, P("trunc")])
    check(one_line_error(rc, err, 1, "trunc", "model.safetensors") and not os.path.exists(P("e")), "unreadable input: %s" % err)
else:  # root reads anything: a folder where the file should be is unreadable for everyone
    os.remove(os.path.join(P("trunc"), "model.safetensors"))
    os.mkdir(os.path.join(P("trunc"), "model.safetensors"))
    rc, out, err = run(["merge", "-o", P("e"), "--average", MODEL, P("trunc")])
    check(one_line_error(rc, err, 1, "trunc", "model.safetensors") and not os.path.exists(P("e")), "unreadable input: %s" % err)

# a full disk while replacing OUT: the old OUT untouched, nothing else left
before = tree_digest(P("sw1"))
rc, out, err = run(["merge", "-o", P("sw1"), "--average", MODEL, P("B"), "--force"], preexec=file_size_limit(1_000_000))
check(one_line_error(rc, err, 1, "write failed") and tree_digest(P("sw1")) == before and no_temp(tmp),
      "full disk: %s" % err)

# --- shared fixtures: a model with Dense modules, a decoder
gemma = os.path.join(SHARED_FIX, "gemma3-tiny")
if os.path.isdir(gemma):
    rc, out, err = run(["merge", "-o", P("gemma"), "--average", gemma, gemma])
    check(rc == 0 and os.path.exists(os.path.join(P("gemma"), "3_Dense", "model.safetensors"))
          and embed(P("gemma")) == embed(gemma), "gemma3-tiny (2 Dense modules) averaged with itself: %s" % err)
else:
    skip("gemma3-tiny (no shared fixtures)")
llama = os.path.join(SHARED_FIX, "llama-bi-tiny")
if os.path.isdir(llama):
    shutil.copytree(llama, P("llama2"))
    rc, out, err = run(["merge", "--dry-run", "--base", llama, "--swap", P("llama2"), "--layers", "0", "--swap-embeddings"])
    src = dict(l.split("\t") for l in out.splitlines())
    donor = sorted(k for k, v in src.items() if v == P("llama2"))
    check(rc == 0 and "model.embed_tokens.weight" in donor or "embed_tokens.weight" in donor, "decoder embeddings swapped: %s" % donor)
    layer0 = lambda k: re.search(r"(^|\.)layers\.0\.", k) is not None
    check(all(layer0(k) or "embed_tokens" in k or re.fullmatch(r"(model\.)?norm\.weight", k) or "lm_head" in k
              for k in donor) and any(layer0(k) for k in donor)
          and len(donor) == sum(1 for k in src if layer0(k)) + 2, "decoder donor tensors: %s" % donor)
    rc, out, err = run(["merge", "-o", P("llama_sw"), "--base", llama, "--swap", P("llama2"), "--layers", "0", "--swap-embeddings"])
    check(rc == 0 and embed(P("llama_sw")) == embed(llama), "decoder swapped with an identical copy embeds the same: %s" % err)
else:
    skip("llama-bi-tiny (no shared fixtures)")

rc, out, err = run(["merge", "--help"])
check(rc == 0 and "--average" in out and "--swap-embeddings" in out and "--max-shard-size" in out, "--help")

shutil.rmtree(tmp, ignore_errors=True)
summary("test_merge_cli")
