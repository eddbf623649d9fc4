#!/bin/sh
# End-to-end tests of `xling classify` (see classify_test.py).
exec python3 "$(dirname "$0")/classify_test.py"
