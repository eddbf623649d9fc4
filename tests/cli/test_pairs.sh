#!/bin/sh
# `xling tokenize` with JSONL "text_pair" (see pairs_test.py).
exec python3 "$(dirname "$0")/pairs_test.py"
