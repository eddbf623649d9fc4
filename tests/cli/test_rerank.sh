#!/bin/sh
# End-to-end tests of `xling rerank`, `xling score` and `index search --rerank` (see rerank_test.py).
exec python3 "$(dirname "$0")/rerank_test.py"
