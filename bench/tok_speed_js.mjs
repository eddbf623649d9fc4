// Tokenizer speed of the Hugging Face JS port (@huggingface/tokenizers), the reference the
// fixtures were made with: loads one tokenizer, encodes every Tatoeba sentence (no special
// tokens, one thread), prints one JSON line like bench/tok_speed.c.
//
//   node bench/tok_speed_js.mjs TOKENIZER_DIR_OR_JSON [TATOEBA_DIR] [--special]
//
// The package is installed by bench/setup_tok_bench.sh into $XLING_BENCH_HOME/tok
// (default ~/.cache/xling-bench/tok). Sentences: every non-empty line of every tatoeba.*
// file, names sorted, "\n" / "\r\n" removed (the list bench/tok_speed.c reads).
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { homedir } from "node:os";
import { pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";

const args = process.argv.slice(2);
const special = args.includes("--special");
const pos = args.filter((a) => a !== "--special");
if (pos.length < 1) {
    console.error("usage: node tok_speed_js.mjs TOKENIZER [TATOEBA_DIR] [--special]");
    process.exit(2);
}
const home = process.env.XLING_BENCH_HOME || join(homedir(), ".cache", "xling-bench");
const pkg = join(home, "tok", "node_modules", "@huggingface", "tokenizers", "dist", "tokenizers.mjs");
if (!existsSync(pkg)) {
    console.error(`tok_speed_js: ${pkg} not found: run bench/setup_tok_bench.sh`);
    process.exit(1);
}
const { Tokenizer } = await import(pathToFileURL(pkg).href);

let tokPath = pos[0];
if (statSync(tokPath).isDirectory()) tokPath = join(tokPath, "tokenizer.json");
const dir = pos[1] || "../shared/data/tatoeba/v1";

const sentences = [];
let bytes = 0;
for (const name of readdirSync(dir).filter((n) => n.startsWith("tatoeba.")).sort()) {
    for (let line of readFileSync(join(dir, name), "utf8").split("\n")) {
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line.length === 0) continue;
        sentences.push(line);
        bytes += Buffer.byteLength(line, "utf8");
    }
}

let t0 = performance.now();
const json = JSON.parse(readFileSync(tokPath, "utf8"));
const cfgPath = join(dirname(tokPath), "tokenizer_config.json");
const config = existsSync(cfgPath) ? JSON.parse(readFileSync(cfgPath, "utf8")) : {};
const tok = new Tokenizer(json, config);
const loadMs = performance.now() - t0;

let tokens = 0;
t0 = performance.now();
for (const s of sentences) tokens += tok.encode(s, { add_special_tokens: special }).ids.length;
const encS = (performance.now() - t0) / 1000;
console.log(JSON.stringify({
    impl: "tokenizers.js", sentences: sentences.length, bytes, tokens, special,
    load_ms: +loadMs.toFixed(1), encode_s: +encS.toFixed(4),
    tokens_per_s: Math.round(tokens / encS), mb_per_s: +(bytes / encS / 1e6).toFixed(3),
}));
