#!/bin/sh
# The main job of the README's first command: embed a few sentences in several
# languages and print their cosine similarities.
# The model folder shipped in the repository (tests/fixtures/models/xlmr-tiny) has the
# real XLM-RoBERTa tokenizer but RANDOM weights: the numbers show the pipeline working,
# not semantic similarity. Point MODEL at a real folder (e.g. multilingual-e5-small) for that.
set -eu
cd "$(dirname "$0")/.."
MODEL=${MODEL:-tests/fixtures/models/xlmr-tiny}
[ "$MODEL" = tests/fixtures/models/xlmr-tiny ] &&
    echo "demo: $MODEL has random weights (real XLM-R tokenizer): the similarities show the pipeline, not meaning; MODEL=/path/to/model for real ones" >&2
printf '%s\n' \
    "The cat is sleeping on the sofa." \
    "Die Katze schläft auf dem Sofa." \
    "Le chat dort sur le canapé." \
    "बिल्ली सोफे पर सो रही है।" \
    "Paka analala kwenye sofa." \
    "The stock market fell sharply today." |
    build/xling similarity -m "$MODEL"
