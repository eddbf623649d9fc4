#!/bin/sh
# End-to-end tests of bge-m3 in the CLI: embed --head, rerank --m3 (see m3_test.py).
exec python3 "$(dirname "$0")/m3_test.py"
