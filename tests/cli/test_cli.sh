#!/bin/sh
# End-to-end tests of the `xling` command line (see cli_test.py).
exec python3 "$(dirname "$0")/cli_test.py"
