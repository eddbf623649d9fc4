#!/bin/sh
# Installs the peers of the tokenizer speed benchmark (idempotent):
#   - @huggingface/tokenizers (the JS port the fixtures were made with) with npm into
#     $XLING_BENCH_HOME/tok (default ~/.cache/xling-bench/tok), outside the repository;
#   - Debian's python3-sentencepiece and python3-protobuf (for bench/tok_speed_spm.py),
#     with apt-get, only when /usr/bin/python3 cannot import them.
#   TOKJS_VERSION overrides the npm version (default 0.2.0, the fixtures' version).
set -eu
BH=${XLING_BENCH_HOME:-$HOME/.cache/xling-bench}
TOKJS_VERSION=${TOKJS_VERSION:-0.2.0}
DIR="$BH/tok"
mkdir -p "$DIR"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
fi
have=$(node -e "try{console.log(require('$DIR/node_modules/@huggingface/tokenizers/package.json').version)}catch(e){}")
if [ "$have" != "$TOKJS_VERSION" ]; then
    [ -f "$DIR/package.json" ] || echo '{"name": "xling-tok-bench", "private": true}' >"$DIR/package.json"
    (cd "$DIR" && npm install --no-audit --no-fund "@huggingface/tokenizers@$TOKJS_VERSION")
fi

if ! /usr/bin/python3 -c "import sentencepiece, google.protobuf" 2>/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-sentencepiece python3-protobuf
fi
echo "tokenizers.js $(node -e "console.log(require('$DIR/node_modules/@huggingface/tokenizers/package.json').version)")," \
     "sentencepiece $(/usr/bin/python3 -c 'import sentencepiece; print(sentencepiece.__version__)')," \
     "protobuf $(/usr/bin/python3 -c 'import google.protobuf; print(google.protobuf.__version__)')"
