#!/bin/sh
# End-to-end tests of `xling serve` (see serve_test.py).
exec python3 "$(dirname "$0")/serve_test.py"
