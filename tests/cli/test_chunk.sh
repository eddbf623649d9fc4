#!/bin/sh
# End-to-end tests of `xling embed --chunk-size` (see chunk_test.py).
exec python3 "$(dirname "$0")/chunk_test.py"
