"""Load benchmark of `xling serve`'s cross-encoder routes (not a test): many clients each
sending one small POST /rerank (a query and ONE document) at once, the traffic of a
search front end or of a classifier behind an API, against one or more xling binaries
in the same run (rounds interleaved): requests/s (= pairs/s), p50 / p99 latency, and the
requests per forward pass from the server's xling_batch_requests histogram. With the
binary of a build before the cross-encoder routes joined the batcher this measures what
merging concurrent requests brings. Model: the XLM-R base-shape cross-encoder of
bench/rerank_setup.py (random weights + head). Texts: Tatoeba sentences from data/
(short pairs), or documents padded to about --doc-tokens tokens. Python standard library.

  nice python3 bench/serve/rerank_serve_bench.py --xling build/xling [--xling OTHER/xling]
      [--concurrency 32] [--requests 320] [--doc-tokens 0] [--rounds 2]
"""
import argparse, http.client, json, os, re, statistics, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ap = argparse.ArgumentParser()
ap.add_argument("--xling", action="append", help="a binary to measure (repeat to compare)")
ap.add_argument("--model", default=os.path.expanduser("~/.cache/xling-bench/models/base-rerank/hf"))
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--concurrency", type=int, default=32)
ap.add_argument("--requests", type=int, default=320, help="requests per measurement at --concurrency")
ap.add_argument("--latency-requests", type=int, default=30, help="sequential requests for the c=1 latency")
ap.add_argument("--doc-tokens", type=int, default=0, help="pad each document to about this many tokens (0: as is)")
ap.add_argument("--rounds", type=int, default=2)
args = ap.parse_args()
binaries = args.xling or [os.path.join(ROOT, "build", "xling")]
if not os.path.isdir(args.model):
    sys.exit("%s: missing; run bench/rerank_setup.py first" % args.model)

queries, docs = [], []
for lang in ("deu", "fra", "rus", "spa", "hin", "swh"):
    with open(os.path.join(ROOT, "data", "tatoeba", "v1", "tatoeba.%s-eng.%s" % (lang, lang)), encoding="utf-8") as f:
        docs += [l.strip() for l in f.readlines()[:40] if l.strip()]
with open(os.path.join(ROOT, "data", "tatoeba", "v1", "tatoeba.deu-eng.eng"), encoding="utf-8") as f:
    queries = [l.strip() for l in f.readlines()[:240] if l.strip()]
if args.doc_tokens:
    # about 1.5 tokens per word for these languages with the XLM-R vocabulary
    docs = [(" ".join([d] * (1 + int(args.doc_tokens / 1.5 / max(1, len(d.split())))))) for d in docs]
bodies = [json.dumps({"query": queries[i % len(queries)], "texts": [docs[i % len(docs)]]}).encode()
          for i in range(max(args.requests, args.latency_requests))]


def start(binary):
    srv = subprocess.Popen([binary, "serve", "-m", args.model, "--port", "0", "--log-format", "none",
                            "-t", str(args.threads), "--max-concurrent-requests", "4096"],
                           stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    for raw in srv.stderr:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", raw.decode())
        if m:
            threading.Thread(target=lambda: [None for _ in srv.stderr], daemon=True).start()
            return srv, int(m.group(1))
    sys.exit("%s: the server did not start" % binary)


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


def run(port, n, conc):
    """n requests from conc clients (keep-alive): wall seconds, latencies, errors."""
    lat, errors, lock, nxt = [], [0], threading.Lock(), [0]

    def client():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                break
            t0 = time.perf_counter()
            c.request("POST", "/rerank", body=bodies[i], headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            dt = time.perf_counter() - t0
            with lock:
                lat.append(dt)
                errors[0] += r.status != 200
        c.close()

    ths = [threading.Thread(target=client) for _ in range(conc)]
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return time.perf_counter() - t0, sorted(lat), errors[0]


def pct(xs, p):
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1e3


def one(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/rerank", body=body, headers={"Content-Type": "application/json"})
    c.getresponse().read()
    c.close()
    return time.perf_counter() - t0


# every server up at once (idle ones sleep): the c=1 latency interleaves them request by
# request, so that load changes on the machine hit all alike; throughput runs one at a time
servers = [start(b) for b in binaries]
for _, port in servers:
    run(port, 4, 1)  # warm up
results = {b: [] for b in binaries}
for rnd in range(args.rounds):
    lat1 = {b: [] for b in binaries}
    for i in range(args.latency_requests):
        for b, (_, port) in zip(binaries, servers):
            lat1[b].append(one(port, bodies[i]))
    for b, (_, port) in zip(binaries, servers):
        b0, r0, t0 = (metric(port, "xling_batches_total"), metric(port, "xling_batch_requests_sum"),
                      metric(port, "xling_input_tokens_total"))
        wall, lat, e = run(port, args.requests, args.concurrency)
        b1, r1, t1 = (metric(port, "xling_batches_total"), metric(port, "xling_batch_requests_sum"),
                      metric(port, "xling_input_tokens_total"))
        row = {"binary": b, "round": rnd + 1, "c1_p50_ms": pct(sorted(lat1[b]), 0.5), "rps": args.requests / wall,
               "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "errors": e,
               "tokens_per_pair": (t1 - t0) / args.requests,
               "requests_per_pass": (r1 - r0) / (b1 - b0) if b1 > b0 else None}
        results[b].append(row)
        print(json.dumps(row), flush=True)
for srv, _ in servers:
    srv.terminate()
    srv.wait()

print("\nmedians over %d rounds (c=%d, %d requests of 1 pair; c=1 %d requests):" %
      (args.rounds, args.concurrency, args.requests, args.latency_requests))
base = None
for b in binaries:
    rows = results[b]
    rps = statistics.median(r["rps"] for r in rows)
    base = base or rps
    rpp = [r["requests_per_pass"] for r in rows if r["requests_per_pass"]]
    print("%-40s pairs/s %7.2f (%.2fx the first)  p50 %7.1f ms  p99 %7.1f ms  c=1 p50 %6.1f ms  "
          "requests/pass %s  tokens/pair %.0f  errors %d" %
          (b, rps, rps / base, statistics.median(r["p50_ms"] for r in rows), statistics.median(r["p99_ms"] for r in rows),
           statistics.median(r["c1_p50_ms"] for r in rows), "%.1f" % statistics.median(rpp) if rpp else "- (not batched)",
           statistics.median(r["tokens_per_pair"] for r in rows), sum(r["errors"] for r in rows)))
