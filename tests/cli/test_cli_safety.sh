#!/bin/sh
# CLI data safety and behaviour (see cli_safety_test.py).
exec python3 "$(dirname "$0")/cli_safety_test.py"
