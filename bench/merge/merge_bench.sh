#!/bin/sh
# Averaging two Llama-3.1-8B-shaped BF16 checkpoints (random weights, seeds 8 and 9,
# 16.1 GB each) with `xling merge --average`: wall time and peak RSS (/usr/bin/time -v),
# against the time to read both inputs and write one output at the disk's speed
# (dd with O_DIRECT: 4 GB read from an input, 4 GB written). Targets: within 1.5x of
# that time, peak RSS <= 2 GiB. Not a test.
#
#   sh bench/merge/merge_bench.sh [-d DIR] [-x XLING] [-l LAYERS] [--keep]
#     -d DIR     working folder (default $HOME/.cache/xling-merge-bench): needs 3x the
#                checkpoint (48 GB at 32 layers); everything in it is deleted at the end
#     -l LAYERS  fewer layers (same widths) when the disk cannot hold three full models
#     --keep     keep the inputs (a second run reuses them)
# Runs under nice; say in any figure that the machine was shared.
set -eu
DIR=$HOME/.cache/xling-merge-bench
XLING=build/xling
LAYERS=32
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    -d) DIR=$2; shift 2 ;;
    -x) XLING=$2; shift 2 ;;
    -l) LAYERS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [-d DIR] [-x XLING] [-l LAYERS] [--keep]" >&2; exit 2 ;;
    esac
done
[ -x "$XLING" ] || { echo "$0: $XLING is not an executable (build first: make)" >&2; exit 2; }
HERE=$(dirname "$0")
mkdir -p "$DIR"
for s in 8 9; do
    if [ ! -f "$DIR/m$s/model.safetensors.index.json" ]; then
        echo "writing $DIR/m$s (seed $s, $LAYERS layers) ..."
        nice -n 10 /usr/bin/python3 "$HERE/gen_checkpoint.py" "$DIR/m$s" "$s" --layers "$LAYERS"
    fi
done
IN=$(du -cb "$DIR"/m8/model-*.safetensors | tail -n 1 | cut -f1)

# disk speed: 4 GB read (O_DIRECT: not from the page cache) and 4 GB written + fsync
first=$(ls "$DIR"/m8/model-*.safetensors | head -n 1)
rd=$(dd if="$first" of=/dev/null bs=16M count=256 iflag=direct 2>&1 | tail -n 1)
wr=$(dd if=/dev/zero of="$DIR/ddtest" bs=16M count=256 oflag=direct conv=fsync 2>&1 | tail -n 1)
rm -f "$DIR/ddtest"
rbps=$(echo "$rd" | awk '{for(i=1;i<=NF;i++) if($i=="s,"){print $1/$(i-1); exit}}')
wbps=$(echo "$wr" | awk '{for(i=1;i<=NF;i++) if($i=="s,"){print $1/$(i-1); exit}}')
echo "disk: read $rd"
echo "disk: write $wr"

# drop the inputs from the page cache where allowed, so the merge reads the disk too
sync
for f in "$DIR"/m8/*.safetensors "$DIR"/m9/*.safetensors; do dd if="$f" iflag=nocache count=0 2>/dev/null || true; done

rm -rf "$DIR/avg"
log=$(mktemp)
nice -n 10 /usr/bin/time -v "$XLING" merge -o "$DIR/avg" --average "$DIR/m8" "$DIR/m9" 2>"$log"
wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
grep "xling merge" "$log" || true
awk -v insz="$IN" -v r="$rbps" -v w="$wbps" -v rss="$rss" -v wall="$wall" 'BEGIN {
    n = split(wall, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i];
    ideal = 2 * insz / r + insz / w;
    printf "inputs 2 x %.2f GB, output %.2f GB\n", insz / 1e9, insz / 1e9;
    printf "disk-speed time (read both + write one): %.1f s (read %.0f MB/s, write %.0f MB/s)\n", ideal, r / 1e6, w / 1e6;
    printf "merge: %.1f s wall = %.2fx the disk-speed time (target <= 1.5x)\n", s, s / ideal;
    printf "peak RSS: %.2f GiB (target <= 2 GiB)\n", rss / 1048576;
}'
rm -f "$log"
rm -rf "$DIR/avg"
if [ "$KEEP" = 0 ]; then rm -rf "$DIR"; echo "removed $DIR"; fi
