"""Makes the reranking benchmark model (not a test): the shared harness's XLM-R base-shape
encoder (random weights, $XLING_BENCH_HOME/models/base/hf) with a random sequence
classification head added (classifier.dense 768x768 + tanh + out_proj 1x768, N(0, 0.02),
seed 15015), as an XLMRobertaForSequenceClassification folder (the encoder shard is a
symlink to the harness's file, the head a second shard) with the XLM-R tokenizer of
tests/fixtures/models/xlmr-tiny, and its ONNX export (the harness's nets.Encoder plus
the head; output "sentence_embedding" = the logits [B, 1], so the harness's bench_ort.js
runs it as is). Output: $XLING_BENCH_HOME/models/base-rerank/{hf,onnx}.

    /usr/bin/python3 bench/rerank_setup.py          # from the repository root
"""
import json, os, shutil, sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("XLING_SHARED", os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "bench"))
import st_io  # noqa: E402

HOME = os.environ.get("XLING_BENCH_HOME", os.path.expanduser("~/.cache/xling-bench"))
BASE = os.path.join(HOME, "models", "base", "hf")
OUT = os.path.join(HOME, "models", "base-rerank")
HF, ONNX = os.path.join(OUT, "hf"), os.path.join(OUT, "onnx")
if not os.path.exists(os.path.join(BASE, "model.safetensors")):
    sys.exit("no %s: run /usr/bin/python3 %s/bench/gen_models.py --shapes base first" % (BASE, SHARED))

cfg = json.load(open(os.path.join(BASE, "config.json")))
H = cfg["hidden_size"]
rng = np.random.default_rng(15015)
head = [("classifier.dense.weight", rng.normal(0, 0.02, (H, H)).astype(np.float32)),
        ("classifier.dense.bias", rng.normal(0, 0.02, (H,)).astype(np.float32)),
        ("classifier.out_proj.weight", rng.normal(0, 0.02, (1, H)).astype(np.float32)),
        ("classifier.out_proj.bias", np.zeros((1,), np.float32))]

os.makedirs(HF, exist_ok=True)
shard1, shard2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
if os.path.lexists(os.path.join(HF, shard1)):
    os.remove(os.path.join(HF, shard1))
os.symlink(os.path.join(BASE, "model.safetensors"), os.path.join(HF, shard1))
st_io.write(os.path.join(HF, shard2), head, lambda n: "F32")
W = st_io.read(os.path.join(BASE, "model.safetensors"))
wm = {k: shard1 for k in W}
wm.update({k: shard2 for k, _ in head})
json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(HF, "model.safetensors.index.json"), "w"), indent=1)
c = dict(cfg)
c.pop("_comment", None)
c.update({"architectures": ["XLMRobertaForSequenceClassification"], "id2label": {"0": "LABEL_0"},
          "label2id": {"LABEL_0": 0},
          "sentence_transformers": {"activation_fn": "torch.nn.modules.activation.Sigmoid"},
          "_comment": "xling reranking benchmark: the harness's base shape (random weights) + a random head"})
json.dump(c, open(os.path.join(HF, "config.json"), "w"), indent=1)
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copyfile(os.path.join(ROOT, "tests", "fixtures", "models", "xlmr-tiny", f), os.path.join(HF, f))

import torch  # noqa: E402
import nets  # noqa: E402

torch.set_num_threads(2)


class Reranker(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nets.Encoder(cfg, W)
        self.dw, self.db = (torch.from_numpy(head[0][1]), torch.from_numpy(head[1][1]))
        self.ow, self.ob = (torch.from_numpy(head[2][1]), torch.from_numpy(head[3][1]))

    def forward(self, input_ids, attention_mask):
        _, x = self.enc(input_ids, attention_mask)
        t = torch.tanh(torch.nn.functional.linear(x[:, 0], self.dw, self.db))
        return torch.nn.functional.linear(t, self.ow, self.ob)


os.makedirs(ONNX, exist_ok=True)
ids = torch.randint(5, 1000, (2, 8), dtype=torch.int64)
with torch.no_grad():
    torch.onnx.export(Reranker().eval(), (ids, torch.ones(2, 8, dtype=torch.int64)), os.path.join(ONNX, "model.onnx"),
                      input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                    "sentence_embedding": {0: "batch"}},
                      opset_version=17, do_constant_folding=True)
print("wrote %s and %s" % (HF, ONNX))
