#!/bin/sh
# End-to-end tests of `xling merge` (see merge_test.py).
exec python3 "$(dirname "$0")/merge_test.py"
