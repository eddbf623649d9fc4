#!/bin/sh
# End-to-end tests of `xling index` (see index_test.py).
exec python3 "$(dirname "$0")/index_test.py"
