#!/bin/sh
# Tokenizer cache files are byte-deterministic (see cache_test.py).
exec python3 "$(dirname "$0")/cache_test.py"
