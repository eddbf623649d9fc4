#!/bin/sh
# End-to-end tests of Hub ids, `xling pull`, `list` and `rm` against a local Hub (see hub_test.py).
exec python3 "$(dirname "$0")/hub_test.py"
