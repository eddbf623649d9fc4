#!/bin/sh
# End-to-end tests of `xling cluster` (see cluster_test.py).
exec python3 "$(dirname "$0")/cluster_test.py"
