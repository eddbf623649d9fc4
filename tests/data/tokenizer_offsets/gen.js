// Generates the expected token byte offsets of tests/test_tokenizer_offsets.c with the
// Hugging Face `tokenizers` Rust crate 0.22.2 itself, through its Node binding:
//   npm install --prefix /tmp/rtok @anush008/tokenizers@0.6.0
//   node tests/data/tokenizer_offsets/gen.js /tmp/rtok /work/shared/fixtures/tokenizers
//
// The binding's encode() calls the crate's encode_char_offsets, so getOffsets() are
// offsets in Unicode scalar values (Rust chars, not UTF-16 units). The crate's byte
// offsets (Encoding::get_offsets of encode()) always fall on char boundaries of the
// input (every alignment is a whole input char), so they are recovered exactly by
// mapping char index k to the byte offset of the k-th char. Special tokens are (0,0)
// either way.
//
// Invalid UTF-8 inputs (written as "hex") are decoded with U+FFFD replacement (the
// maximal-subpart rule of Python's errors="replace", which xling uses too), encoded
// by the crate, and each char of the repaired text is mapped back to the span of
// ORIGINAL bytes it came from: a U+FFFD covers the invalid bytes it replaced. That is
// xling's definition of offsets for invalid input (the crate has none: it takes &str).
//
// Output: corpus.jsonl ({"id", "text"} or {"id", "hex"}) and <tokenizer>.jsonl
// ({"id", "n", "offsets": [s0, e0, s1, e1, ...]}: n tokens, special tokens added; the
// ids themselves are tested against the shared fixtures elsewhere).
"use strict";
const fs = require("fs");
const path = require("path");
const [, , npmDir, fixtures] = process.argv;
if (!npmDir || !fixtures) {
  console.error("usage: node gen.js NPM_PREFIX FIXTURES_TOKENIZERS_DIR");
  process.exit(2);
}
const { Tokenizer } = require(path.join(npmDir, "node_modules/@anush008/tokenizers"));
const outDir = __dirname;
const names = ["bert-wordpiece", "bert-cased", "xlmr-unigram", "llama3_1", "qwen3", "gemma3"];

// The corpus (kept small): every edge:* and perturb:* line of the shared corpus, the
// first line of every third tatoeba language and of each stsb language, one
// paragraph, and the adversarial cases below.
const corpus = [];
const seen = new Set();
let paragraphs = 0, langs = 0;
for (const line of fs.readFileSync(path.join(fixtures, "corpus.jsonl"), "utf8").split("\n")) {
  if (!line) continue;
  const j = JSON.parse(line);
  const kind = j.src.split(":")[0];
  let take = kind === "edge" || kind === "perturb";
  if (kind === "tatoeba" || kind === "stsb") {
    take = !seen.has(j.src);
    seen.add(j.src);
    if (take && kind === "tatoeba") take = langs++ % 3 === 0;
  }
  if (kind === "paragraph") take = paragraphs++ < 1;
  if (take) corpus.push({ id: String(j.id), text: j.text });
}
const adv = [
  "", " ", "   ", "\t\n \r\n  ", "a   b    c", "  leading and trailing  ",
  "e\u0301", "a\u0301\u0302\u0323b", "\u0301start", "cafe\u0301 na\u0308ive", "A\u030A\u0323", "\u1100\u1161\u11A8 \uAC01",
  "\uFB01nance", "\u2460\u2461 \u2474", "\u337B \u2163 \u00BD x\u00B2", "\uFF48\uFF45\uFF4C\uFF4C\uFF4F\u3000\uFF37\uFF4F\uFF52\uFF4C\uFF44\uFF01",
  "\u4E2D\u6587\u5B57\u7B26\u6D4B\u8BD5abc\u65E5\u672C\u8A9E", "\u{20000}\u{2A6D6}x", "\uD55C\uAD6D\uC5B4 \u0E20\u0E32\u0E29\u0E32\u0E44\u0E17\u0E22",
  "\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466} family", "\u{1F44D}\u{1F3FD}\u{1F1EB}\u{1F1F7}!", "\u{1F600}\u{1F600}\u{1F600}",
  "\u0645\u0631\u062D\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645", "\u05E9\u05DC\u05D5\u05DD \u05E2\u05D5\u05DC\u05DD", "abc \u202Edef\u202C ghi \u200F",
  "\u0130stanbul \u03A3\u0391\u03A3 Stra\u00DFe \u1E9E", "x\u00A0y\u2003z\u200Bw", "\u0000a\u0001b\u007F\u0085c",
  "<s> hello <mask> world </s>", "[CLS] a [SEP] [MASK]x", "<|im_start|>user\nhi<|im_end|>", "<bos>Hi<eos> <|begin_of_text|>x",
  "a".repeat(120) + " b", "supercalifragilisticexpialidocious antidisestablishmentarianism", "1234567 3.14159 -42",
  "Hello,world! It's (really) \"quoted\"...", "don't you'll I'M we've", "\u00E9\u00E9\u00E9 \u00C9T\u00C9",
  "\u0928\u092E\u0938\u094D\u0924\u0947 \u0BA4\u0BAE\u0BBF\u0BB4\u0BCD", "\u30AB\u3099\u30CF\u309A \uFF76\uFF9E", "\uFFFD replacement",
];
adv.forEach((text, i) => corpus.push({ id: "adv:" + i, text }));
const invalid = ["616263ff646566", "e4b8", "61c32862", "f09f98", "eda08078", "c0af", "636166e920", "80bf41", "f4908080", "e4b8ade6", "ff", "20ff20"];
invalid.forEach((hex, i) => corpus.push({ id: "bad:" + i, hex }));

// Maximal-subpart decoding that also maps each decoded char to its original bytes.
function decodeMapped(bytes) {
  const chars = [], spans = [];
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i];
    let need = 0, lo = 0x80, hi = 0xbf;
    if (c < 0x80) need = 1;
    else if (c >= 0xc2 && c < 0xe0) need = 2;
    else if (c >= 0xe0 && c < 0xf0) { need = 3; if (c === 0xe0) lo = 0xa0; if (c === 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c < 0xf5) { need = 4; if (c === 0xf0) lo = 0x90; if (c === 0xf4) hi = 0x8f; }
    let k = 1;
    if (need > 1) {
      for (; k < need && i + k < bytes.length; k++) {
        const b = bytes[i + k], l = k === 1 ? lo : 0x80, h = k === 1 ? hi : 0xbf;
        if (b < l || b > h) break;
      }
    }
    if (need && k === need) {
      chars.push(Buffer.from(bytes.slice(i, i + need)).toString("utf8"));
      spans.push([i, i + need]);
      i += need;
    } else {
      const n = need ? k : 1;
      chars.push("\uFFFD");
      spans.push([i, i + n]);
      i += n;
    }
  }
  return { text: chars.join(""), spans, len: bytes.length };
}

function charToByteMap(entry) {
  if (entry.hex !== undefined) {
    const m = decodeMapped([...Buffer.from(entry.hex, "hex")]);
    return { text: m.text, starts: m.spans.map((s) => s[0]), len: m.len };
  }
  const starts = [];
  let b = 0;
  for (const ch of entry.text) {
    starts.push(b);
    b += Buffer.byteLength(ch, "utf8");
  }
  return { text: entry.text, starts, len: b };
}

function toBytes(map, k) {
  if (k < map.starts.length) return map.starts[k];
  if (k === map.starts.length) return map.len;
  throw new Error("char offset " + k + " beyond the text");
}

async function main() {
fs.writeFileSync(path.join(outDir, "corpus.jsonl"), corpus.map((e) => JSON.stringify(e)).join("\n") + "\n");
for (const name of names) {
  const tok = Tokenizer.fromFile(path.join(fixtures, "models", name, "tokenizer.json"));
  const lines = [];
  for (const entry of corpus) {
    const map = charToByteMap(entry);
    const enc = await tok.encode(map.text, null, { addSpecialTokens: true });
    const offs = [];
    for (const [s, e] of enc.getOffsets()) offs.push(toBytes(map, s), toBytes(map, e));
    lines.push(JSON.stringify({ id: entry.id, n: offs.length / 2, offsets: offs }));
  }
  fs.writeFileSync(path.join(outDir, name + ".jsonl"), lines.join("\n") + "\n");
  console.log(name, lines.length, "lines");
}
}
main().catch((e) => { console.error(e); process.exit(1); });
