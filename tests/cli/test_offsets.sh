#!/bin/sh
# `xling tokenize --offsets` (see offsets_test.py).
exec python3 "$(dirname "$0")/offsets_test.py"
