#!/usr/bin/env bash
# Run folders and losses written by `dino train` for the registry's compatibility tests
# (Tests/DinoSSLTests/RunFixtureTests.swift). Generated ONCE with the code before the method
# registry (commit daf9e93, where RUN/config.json has no "method" key), so that the tests can
# check that runs of that code still resume bit-exactly and that `--method dino|dinov2|distill`
# still compute the same losses. Re-running it with newer code overwrites the fixtures with
# newer run folders, which defeats their purpose: only do so on purpose.
#
#   Fixtures/runs/images/            4 glyphs of data/glyphs-mini (2 steps of batch 2 per epoch)
#   Fixtures/runs/{dino,dinov2,distill}/   run folders stopped after 3 of 6 steps (mid-epoch 2):
#                                    config.json, checkpoints/, metrics.jsonl (no tensorboard/)
#   Fixtures/runs/losses.json        metrics of the uninterrupted 6-step runs (steps 1, 3, 5)
#
# Usage: scripts/make_run_fixtures.sh [path/to/dino]   (default: .build/debug/dino)
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${1:-.build/debug/dino}
OUT=Tests/DinoSSLTests/Fixtures/runs
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT/images"
for f in A/Caladea-Bold B/Carlito-Bold C/Caladea-Bold D/Carlito-Bold; do
  cp "data/glyphs-mini/train/$f.png" "$OUT/images/${f%%/*}.png"
done
HEAD="head.prototypes=32 head.hidden_dimensions=16 head.bottleneck_dimensions=8"
V2HEAD="dino.head.prototypes=32 dino.head.hidden_dimensions=16 dino.head.bottleneck_dimensions=8"
COMMON="--epochs 3 --batch-size 2 --seed 7 --threads 2 --quiet data.workers=1"
train() {  # name out extra…
  local name=$1 out=$2; shift 2
  case $name in
    dino)    "$DINO" train --method dino --model test_dino --data "$OUT/images" --out "$out" $COMMON $HEAD koleo_loss_weight=0.1 "$@" ;;
    dinov2)  "$DINO" train --method dinov2 --model test_dinov2 --data "$OUT/images" --out "$out" $COMMON $V2HEAD "$@" ;;
    distill) "$DINO" train --method distill --teacher-run "$OUT/dinov2" --model test_dinov2 --data "$OUT/images" --out "$out" \
               $COMMON $V2HEAD crops.local_count=2 "$@" ;;
  esac
}
echo "{" > "$TMP/losses.json"
sep=""
for m in dino dinov2 distill; do
  train $m "$OUT/$m" --max-steps 3
  rm -rf "$OUT/$m/tensorboard" "$OUT/$m/checkpoints/checkpoint-000000002."*  # the newest checkpoint is enough
  train $m "$TMP/$m-whole"
  printf '%s  "%s": [\n' "$sep" "$m" >> "$TMP/losses.json"
  paste -sd, "$TMP/$m-whole/metrics.jsonl" | sed 's/^/    /' >> "$TMP/losses.json"
  printf '  ]' >> "$TMP/losses.json"
  sep=$',\n'
done
printf '\n}\n' >> "$TMP/losses.json"
python3 -c "import json,sys; d=json.load(open('$TMP/losses.json')); json.dump(d, open('$OUT/losses.json','w'), indent=1, sort_keys=True)"
du -sh "$OUT"
