#!/bin/sh
# End-to-end tests of `xling vocab` (see vocab_test.py).
exec python3 "$(dirname "$0")/vocab_test.py"
