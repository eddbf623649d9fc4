#!/bin/sh
# End-to-end tests of `xling eval`, `align` and `report` (see eval_test.py).
exec python3 "$(dirname "$0")/eval_test.py"
