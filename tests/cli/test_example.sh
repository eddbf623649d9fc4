#!/bin/sh
# Runs examples/embed (built against xling.h alone) and checks it against `xling embed`.
exec python3 "$(dirname "$0")/example_test.py"
