#!/bin/sh
# End-to-end tests of `xling mine` (see mine_test.py).
exec python3 "$(dirname "$0")/mine_test.py"
