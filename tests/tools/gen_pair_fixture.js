// Regenerates tests/fixtures/tokenizers/pairs.jsonl: text pairs encoded by the Rust
// `tokenizers` crate (0.22.2, through its Node binding @anush008/tokenizers 0.6.0), the
// reference for xl_tokenize_pair. Not run by the tests (it needs the npm package):
//   npm install --prefix DIR @anush008/tokenizers@0.6.0
//   TOKENIZERS_NODE=DIR/node_modules/@anush008/tokenizers node tests/tools/gen_pair_fixture.js ../shared
const { Tokenizer } = require(process.env.TOKENIZERS_NODE || '@anush008/tokenizers');
const fs = require('fs');
const shared = process.argv[2] || '../shared';
const dir = shared + '/fixtures/tokenizers';
const corpus = fs.readFileSync(dir + '/corpus.jsonl', 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l).text);
const names = ['bert-wordpiece', 'bert-cased', 'xlmr-unigram', 'llama3_1', 'qwen3', 'gemma3'];
// pairs: fixed picks over the corpus (short, long, empty, special-token text)
const picks = [[0, 1], [5, 2000], [2500, 10], [100, 101], [2900, 3000], [7, 2600]];
const pairs = picks.map(([a, b]) => [corpus[a], corpus[b]]);
pairs.push(['', 'only the second text'], ['only the first text', ''], ['', '']);
pairs.push(['How old is the universe?', 'The universe is about 13.8 billion years old, according to the Planck mission.']);
// bert-wordpiece with its post-processor replaced (the test makes the same files)
const variants = {
  'bert-wordpiece+BertProcessing': { type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] },
  'bert-wordpiece+RobertaProcessing': { type: 'RobertaProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101],
    trim_offsets: true, add_prefix_space: false },
};
const os = require('os');
function load(name) {
  if (!variants[name]) return Tokenizer.fromFile(`${dir}/models/${name}/tokenizer.json`);
  const j = JSON.parse(fs.readFileSync(`${dir}/models/bert-wordpiece/tokenizer.json`, 'utf8'));
  j.post_processor = variants[name];
  const f = `${os.tmpdir()}/pair_variant_${process.pid}.json`;
  fs.writeFileSync(f, JSON.stringify(j));
  const t = Tokenizer.fromFile(f);
  fs.unlinkSync(f);
  return t;
}
names.push(...Object.keys(variants));
(async () => {
  const out = [];
  for (const name of names) {
    for (const max of [0, 24, 9]) {
      const tok = load(name);
      if (max) tok.setTruncation(max, { strategy: 'LongestFirst' });
      for (const [i, [a, b]] of pairs.entries()) {
        for (const special of [true, false]) {
          if (!special && max) continue; // the crate subtracts specials only when adding them
          const e = await tok.encode(a, b, { addSpecialTokens: special });
          out.push(JSON.stringify({ tokenizer: name, pair: i, a, b, special, max_len: max,
            ids: Array.from(e.getIds()), type_ids: Array.from(e.getTypeIds()) }));
        }
      }
    }
  }
  fs.writeFileSync('tests/fixtures/tokenizers/pairs.jsonl', out.join('\n') + '\n');
})();
