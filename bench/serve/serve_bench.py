"""Load benchmark of `xling serve` (not a test): wrk on loopback with bench/serve/embed.lua,
fixed request counts, POST /v1/embeddings at concurrency 1 and 32 with 1 and 16 inputs per
request; requests/s, tokens/s (from the server's xling_input_tokens_total), p50/p99
latency, errors (connect/read/write/timeout and non-2xx: must be 0); RSS of the server
before and after a long run (default 100 000 requests of one short input); and the two
baselines: tokens/s of `xling embed` on the same texts (model load subtracted) and the
bare forward of one input (`xling bench-embed --batch 1 --seq S`, S = the median input
length). Model: the multilingual-e5-small shape with random weights from the peer
benchmark (~/.cache/xling-bench/models/e5-small/hf) plus the XLM-R tokenizer of the
xlmr-tiny test fixture (the same 250002-token vocabulary), linked into a temporary
folder. Texts: Tatoeba sentences from data/ in eight languages. Python standard library.

  nice python3 bench/serve/serve_bench.py [--quick] [--long N] [--json results.json]
"""
import argparse, json, os, re, signal, statistics, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ap = argparse.ArgumentParser()
ap.add_argument("--xling", default=os.path.join(ROOT, "build", "xling"))
ap.add_argument("--model", default=os.path.expanduser("~/.cache/xling-bench/models/e5-small/hf"))
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--quick", action="store_true", help="a tenth of the request counts")
ap.add_argument("--long", type=int, default=100000, help="requests of the RSS run (0: skip)")
ap.add_argument("--json", help="write the results here too")
args = ap.parse_args()

tmp = tempfile.mkdtemp(prefix="xl_serve_bench_")
model = os.path.join(tmp, "e5-small")
os.mkdir(model)
for name in os.listdir(args.model):
    os.symlink(os.path.join(args.model, name), os.path.join(model, name))
fixture = os.path.join(ROOT, "tests", "fixtures", "models", "xlmr-tiny")
for name in ("tokenizer.json", "tokenizer_config.json"):
    if not os.path.exists(os.path.join(model, name)):
        os.symlink(os.path.realpath(os.path.join(fixture, name)), os.path.join(model, name))

texts = []
for lang in ("eng", "deu", "fra", "rus", "jpn", "ara", "hin", "swh"):
    path = os.path.join(ROOT, "data", "tatoeba", "v1", "tatoeba.%s-eng.%s" % (lang, lang) if lang != "eng" else "tatoeba.deu-eng.eng")
    with open(path, encoding="utf-8") as f:
        texts += [l.strip() for l in f.readlines()[:64] if l.strip()]

# the server
srv = subprocess.Popen([args.xling, "serve", "-m", model, "--port", "0", "--log-format", "none", "-t", str(args.threads)],
                       stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
port = None
for raw in srv.stderr:
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", raw.decode())
    if m:
        port = int(m.group(1))
        break
if not port:
    sys.exit("the server did not start")
threading.Thread(target=lambda: [None for _ in srv.stderr], daemon=True).start()
base = "http://127.0.0.1:%d" % port


def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())


def metric(name):
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


def rss_kib():
    with open("/proc/%d/status" % srv.pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


lens = []
for k in range(0, len(texts), 32):
    lens += [len(t) for t in post("/tokenize", {"inputs": texts[k:k + 32]})]
lua = os.path.join(ROOT, "bench", "serve", "embed.lua")


def run_wrk(conc, per_request, requests, bodies_texts=None):
    src = bodies_texts or texts
    path = os.path.join(tmp, "bodies.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for k in range(0, len(src) if per_request == 1 else len(src) - per_request + 1, per_request if per_request > 1 else 1):
            inp = src[k] if per_request == 1 else src[k:k + per_request]
            f.write(json.dumps({"input": inp}, ensure_ascii=False) + "\n")
    donef = os.path.join(tmp, "done")
    open(donef, "w").close()
    tok0 = metric("xling_input_tokens_total")
    t0 = time.time()
    w = subprocess.Popen(["wrk", "-t1", "-c%d" % conc, "-d3600s", "--timeout", "60s", "-s", lua, base + "/v1/embeddings",
                          "--", path, str(requests), donef], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while w.poll() is None:
        with open(donef) as f:
            if f.read().count("done") >= 1:
                break
        time.sleep(0.02)
    wall = time.time() - t0
    w.send_signal(signal.SIGINT)
    out = w.communicate()[0].decode()
    tokens = metric("xling_input_tokens_total") - tok0
    m = re.search(r"RESULT (.*)", out)
    r = dict(kv.split("=") for kv in m.group(1).split()) if m else {}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(int(r.get(k, 0)) for k in ("connect", "read", "write", "timeout")) + (int(non2xx.group(1)) if non2xx else 0)
    n = int(r.get("requests", 0))
    return {"concurrency": conc, "inputs_per_request": per_request, "requests": n, "seconds": round(wall, 2),
            "requests_per_s": round(n / wall, 1), "tokens_per_s": round(tokens / wall, 1),
            "p50_ms": int(r.get("p50_us", 0)) / 1000, "p99_ms": int(r.get("p99_us", 0)) / 1000, "errors": errors}


scale = 0.1 if args.quick else 1.0
results = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "loadavg_start": open("/proc/loadavg").read().split()[:3],
           "threads": args.threads, "runs": []}
post("/v1/embeddings", {"input": texts[:16]})  # warm-up
for conc, per, n in [(1, 1, 1000), (1, 16, 200), (32, 1, 2000), (32, 16, 400)]:
    res = run_wrk(conc, per, max(10, int(n * scale)))
    results["runs"].append(res)
    print(json.dumps(res), flush=True)

# baselines: xling embed on the same texts (the 16-input bodies, 4 rounds), load time subtracted
allp = os.path.join(tmp, "all.txt")
with open(allp, "w", encoding="utf-8") as f:
    for _ in range(4):
        f.write("\n".join(texts) + "\n")
onep = os.path.join(tmp, "one.txt")
with open(onep, "w") as f:
    f.write(texts[0] + "\n")


def timed(argv):
    t0 = time.time()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.time() - t0


t_all = min(timed([args.xling, "embed", "-m", model, "-i", allp, "-o", os.devnull, "-t", str(args.threads)]) for _ in range(2))
t_one = min(timed([args.xling, "embed", "-m", model, "-i", onep, "-o", os.devnull, "-t", str(args.threads)]) for _ in range(3))
embed_tps = 4 * sum(lens) / max(t_all - t_one, 1e-9)
S = int(statistics.median(lens))
be = subprocess.run([args.xling, "bench-embed", "-m", model, "--batch", "1", "--seq", str(S), "--reps", "50", "--threads",
                     str(args.threads), "--json"], capture_output=True, check=True)
bare_ms = json.loads(be.stdout)["median_ms"]
results["baseline"] = {"xling_embed_tokens_per_s": round(embed_tps, 1), "texts": 4 * len(texts), "tokens": 4 * sum(lens),
                       "bench_embed_seq": S, "bench_embed_median_ms": bare_ms, "median_input_tokens": S}
print(json.dumps(results["baseline"]), flush=True)

if args.long:
    short = ["Hello!", "Thank you.", "Good night.", "Danke schön.", "Merci.", "Спасибо.", "ありがとう。", "شكرا."]
    rss0 = rss_kib()
    res = run_wrk(32, 1, args.long, short)
    rss1 = rss_kib()
    res.update({"rss_before_kib": rss0, "rss_after_kib": rss1, "rss_growth_pct": round(100.0 * (rss1 - rss0) / rss0, 2)})
    results["long"] = res
    print(json.dumps(res), flush=True)

srv.send_signal(signal.SIGTERM)
results["server_exit"] = srv.wait(60)
results["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
c32 = [r for r in results["runs"] if r["concurrency"] == 32 and r["inputs_per_request"] == 16][0]
c1 = [r for r in results["runs"] if r["concurrency"] == 1 and r["inputs_per_request"] == 1][0]
print("\n| concurrency | inputs/request | requests | requests/s | tokens/s | p50 ms | p99 ms | errors |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in results["runs"] + ([results["long"]] if "long" in results else []):
    print("| %d | %d | %d | %.1f | %.0f | %.2f | %.2f | %d |" % (r["concurrency"], r["inputs_per_request"], r["requests"],
          r["requests_per_s"], r["tokens_per_s"], r["p50_ms"], r["p99_ms"], r["errors"]))
print("\nc=32 x16 tokens/s %.0f vs xling embed %.0f (%.0f%%); c=1 x1 p50 %.2f ms vs bare forward (bench-embed 1x%d) %.2f ms (+%.2f ms)"
      % (c32["tokens_per_s"], embed_tps, 100 * c32["tokens_per_s"] / embed_tps, c1["p50_ms"], S, bare_ms, c1["p50_ms"] - bare_ms))
if "long" in results:
    print("RSS %d -> %d KiB (%+.2f%%) over %d requests; server exit %d" % (results["long"]["rss_before_kib"],
          results["long"]["rss_after_kib"], results["long"]["rss_growth_pct"], results["long"]["requests"], results["server_exit"]))
print("load average at start %s, at end %s" % (" ".join(results["loadavg_start"]), " ".join(results["loadavg_end"])))
if args.json:
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
subprocess.run(["rm", "-rf", tmp])
