#!/usr/bin/env bash
# The robustness protocol of docs/benchmarks-robustness.md: every method with its defaults — no
# overrides — on several data sets and seeds, 10 epochs of vit_nano_patch4, the probe after every
# epoch and the collapse monitors of every logged step.
#
#   scripts/bench_robustness.sh PIECE [PIECE …]     PIECE = METHOD:SET:SEED[:MODEL]
#   scripts/bench_robustness.sh all                  the whole protocol (see the budget below)
#   scripts/bench_robustness.sh table                the markdown table of everything in OUT
#   scripts/bench_robustness.sh pixels               the raw-pixel k-NN of every k-NN set
#                                                    (scripts/knn_pixels.py; PYTHON with torch,
#                                                    numpy and Pillow): what each set's figures are to
#                                                    be read against
#
# Methods: dino, dinov2, distill, dinov3 (distill's teacher is the dinov2 run of the same set and seed,
# trained first if missing). Sets (../shared/datasets):
#   digits            1198 / 599 8×8 handwritten digits, k-NN top-1
#   glyphs            glyphs-dev, k-NN top-1 on the TUNE half of its val typefaces
#   glyphs-holdout    the same run, k-NN on the HELD-BACK half of the val typefaces (families
#                     whose name hashes to an odd number): never looked at while choosing defaults
#   wild              glyphs-dev-wild, k-NN top-1 (beyond vit_nano_patch4 in 10 epochs even with labels:
#                     scripts/supervised_reference.py, docs/benchmarks-robustness.md)
#   scenes            trained on scenes-dev at 32 px; two dense probes of the frozen patch tokens:
#                     video J&F (label propagation on videos-dev, `scenes-video`, higher is better)
#                     and depth RMSE (lin.1, 2 epochs, scenes-dev val, `scenes-depth`, lower is better)
# Epoch 0 is the random initialisation (the floor every method must end above).
#
# Budget (2 cores, idle, 2 threads): a 10-epoch vit_nano_patch4 run takes about 4 min on digits,
# 15 on glyphs, 30 on wild, 12 on scenes, plus about 10 s of k-NN per epoch; one method × one seed
# over the four sets about 65 minutes; the whole protocol (4 methods × 4 sets × 3 seeds, plus one
# vit_tiny_patch4 run) about 13 hours — run it in pieces across sessions; every piece appends to
# OUT/results.jsonl; a finished piece is skipped when run again, one cut off goes on where it stopped.
#
# Environment: DINO (binary), OUT (default runs/robustness), THREADS (default: all cores),
# EPOCHS (default 10), DATASETS (default ../shared/datasets). For diagnosis only, never for the
# protocol's table: OVERRIDES="key=value …" starts every new piece with those settings (use
# another OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
OUT=${OUT:-runs/robustness}
THREADS=${THREADS:-$(nproc)}
EPOCHS=${EPOCHS:-10}
DATASETS=${DATASETS:-../shared/datasets}
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
touch "$RESULTS"

# The held-back split of glyphs-dev val: typeface families (the file name up to the first '-')
# whose CRC-32 is odd go to the held-back half, the rest to the tune half; links, built once.
split_glyphs() {
    [ -d "$OUT/glyphs-split/holdout" ] && return
    python3 - "$DATASETS/glyphs-dev/val" "$OUT/glyphs-split" <<'PY'
import os, sys, zlib
src, dst = sys.argv[1], sys.argv[2]
for cls in sorted(os.listdir(src)):
    for name in sorted(os.listdir(os.path.join(src, cls))):
        family = name.split('-')[0].rsplit('.', 1)[0]
        half = 'holdout' if zlib.crc32(family.encode()) % 2 else 'tune'
        d = os.path.join(dst, half, cls)
        os.makedirs(d, exist_ok=True)
        os.symlink(os.path.abspath(os.path.join(src, cls, name)), os.path.join(d, name))
PY
}

train_dir() {
    case "$1" in
        digits) echo "$DATASETS/digits/train" ;;
        glyphs) echo "$DATASETS/glyphs-dev/train" ;;
        wild) echo "$DATASETS/glyphs-dev-wild/train" ;;
        scenes) echo "$DATASETS/scenes-dev/train" ;;
        *) echo "unknown set '$1' (digits, glyphs, wild, scenes)" >&2; exit 2 ;;
    esac
}

# probe RUN SET → one JSON object per evaluation: {"eval": NAME, "top1"|"miou": …}
probe() {
    local run=$1 set=$2
    case "$set" in
        digits|wild)
            local root=$DATASETS/digits; [ "$set" = wild ] && root=$DATASETS/glyphs-dev-wild
            "$DINO" eval knn --train "$root/train" --val "$root/val" --run "$run" --k 20 --json --threads "$THREADS" 2>/dev/null \
                | python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps({'eval': '$set', 'top1': d['top1']}))" ;;
        glyphs)
            split_glyphs
            for half in tune holdout; do
                local name=glyphs; [ $half = holdout ] && name=glyphs-holdout
                "$DINO" eval knn --train "$DATASETS/glyphs-dev/train" --val "$OUT/glyphs-split/$half" --run "$run" --k 20 --json \
                    --threads "$THREADS" 2>/dev/null \
                    | python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps({'eval': '$name', 'top1': d['top1']}))"
            done ;;
        scenes)
            # Dense probes of the frozen patch tokens (the segmentation probe sits at its floor,
            # all background, for every backbone of this size: docs/benchmarks-eval.md): DINO's
            # video label propagation on videos-dev (same domain: letters over photos) and DINOv2's
            # linear depth head (lin.1, 2 epochs) on scenes-dev at the model's 32 px.
            "$DINO" eval video --data "$DATASETS/videos-dev" --run "$run" --json --threads "$THREADS" 2>/dev/null \
                | python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps({'eval': 'scenes-video', 'jf': round(100 * d['propagation']['jf_mean'], 2)}))"
            "$DINO" eval depth --train "$DATASETS/scenes-dev/train" --val "$DATASETS/scenes-dev/val" \
                --depth "$DATASETS/scenes-dev/depth" --run "$run" --layers 1 --max-depth 16 --epochs 2 --json \
                --threads "$THREADS" 2>/dev/null \
                | python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps({'eval': 'scenes-depth', 'rmse': round(d['metrics']['rmse'], 4), 'mean_depth_rmse': round(d['mean_depth_baseline']['rmse'], 4)}))" ;;
    esac
}

# monitors RUN FROM TO → the collapse monitors of the logged steps in [FROM, TO): means and the
# share of steps flagged as collapsed.
monitors() {
    python3 - "$1/metrics.jsonl" "$2" "$3" <<'PY'
import json, sys
path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(l) for l in open(path) if l.strip()]
rows = list({r['step']: r for r in rows if lo <= r['step'] < hi}.values())  # a resumed step counts once
def mean(k):
    v = [r[k] for r in rows if r.get(k) is not None]
    return round(sum(v) / len(v), 4) if v else None
print(json.dumps({'teacher_entropy': mean('teacher_entropy'), 'teacher_mean_entropy': mean('teacher_mean_entropy'),
                  'feature_std': mean('feature_std'), 'collapsed_share': mean('collapse'), 'loss': mean('loss')}))
PY
}

state() {  # state RUN KEY → KEY of the newest train state
    python3 -c "import json,os,sys; d=sys.argv[1]+'/checkpoints'; f=sorted(x for x in os.listdir(d) if x.endswith('.json'))[-1]; print(json.load(open(os.path.join(d,f)))[sys.argv[2]])" "$1" "$2"
}

piece() {
    local method set seed model
    IFS=: read -r method set seed model <<< "$1"
    model=${model:-vit_nano_patch4}
    local key="$method:$set:$seed:$model" run="$OUT/$method-$set-s$seed-$model"
    if grep -q "\"piece\": \"$key\", \"epoch\": $EPOCHS," "$RESULTS"; then echo "done already: $key"; return; fi
    local teacher=()
    if [ "$method" = distill ]; then
        local trun="$OUT/dinov2-$set-s$seed-$model"
        grep -q "\"piece\": \"dinov2:$set:$seed:$model\", \"epoch\": $EPOCHS," "$RESULTS" || piece "dinov2:$set:$seed:$model"
        teacher=(--teacher-run "$trun")
        model=vit_nano_patch4   # the student: no smaller preset than the teacher's
    fi
    local data; data=$(train_dir "$set")
    # A piece cut off part-way (a session ended) goes on from the epoch after the last one whose
    # results are in, resuming the run from its newest checkpoint (resume is bit-exact);
    # FRESH=1 starts it again from nothing.
    local first=0
    if [ "${FRESH:-0}" != 1 ] && ls "$run/checkpoints/"*.json > /dev/null 2>&1; then
        first=$(python3 -c "
import json, sys
done = [json.loads(l)['epoch'] for l in open(sys.argv[1]) if l.strip() and json.loads(l)['piece'] == sys.argv[2]]
print(max(done) + 1 if done else 0)" "$RESULTS" "$key")
        echo "going on with $key from epoch $first" | tee -a "$run.log"
    else
        rm -rf "$run"
        # Pieces may run side by side (two 1-thread queues): every rewrite of and append to the
        # results file holds its lock.
        ( flock 9; grep -v "\"piece\": \"$key\"" "$RESULTS" > "$RESULTS.$$" || true; mv "$RESULTS.$$" "$RESULTS" ) 9> "$RESULTS.lock"
        "$DINO" train --method "$method" --model "$model" "${teacher[@]}" --data "$data" --out "$run" --epochs "$EPOCHS" \
            --seed "$seed" --threads "$THREADS" --max-steps 0 --quiet ${OVERRIDES:-} > "$run.log" 2>&1
    fi
    local steps; steps=$(state "$run" batchesPerEpoch)
    for e in $(seq "$first" "$EPOCHS"); do
        if [ "$e" -gt 0 ]; then
            "$DINO" train --data "$data" --out "$run" --resume --threads "$THREADS" --max-steps $((e * steps)) --quiet >> "$run.log" 2>&1
        fi
        local secs mon
        secs=$(python3 -c "print(round($(state "$run" elapsedSeconds), 1))")
        mon=$(if [ "$e" -gt 0 ]; then monitors "$run" $(((e - 1) * steps)) $((e * steps)); else echo null; fi)
        probe "$run" "$set" | while read -r result; do
            echo "{\"piece\": \"$key\", \"epoch\": $e, \"train_seconds\": $secs, \"result\": $result, \"monitors\": $mon}" | ( flock 9; tee -a "$RESULTS" ) 9> "$RESULTS.lock"
        done
    done
    grep -h "warning: collapse\|collapse (" "$run.log" || true
}

table() {
    python3 - "$RESULTS" "$EPOCHS" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
last = int(sys.argv[2])
by = collections.defaultdict(dict)
for r in rows:
    by[(r['piece'], r['result']['eval'])][r['epoch']] = r
print('| method | set | seed | model | random init | epoch 1 … %d | final | H(q) / H(q̄) last epoch | feature std | collapsed steps |' % last)
print('|---|---|---:|---|---:|---|---:|---|---:|---:|')
for (piece, ev), epochs in sorted(by.items()):
    method, _, seed, model = piece.split(':')
    metric = {'scenes': 'miou', 'scenes-video': 'jf', 'scenes-depth': 'rmse'}.get(ev, 'top1')
    def v(e): return epochs[e]['result'][metric] if e in epochs else None
    fmt = '%.3f' if metric == 'rmse' else '%.1f'
    curve = ', '.join(fmt % v(e) for e in range(1, last + 1) if v(e) is not None)
    m = epochs.get(last, {}).get('monitors') or {}
    f = lambda x: '–' if x is None else '%.2f' % x
    g = (lambda x: '–' if x is None else '%.3f' % x) if metric == 'rmse' else f
    print('| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s |' % (
        method, ev, seed, model, g(v(0)), curve, g(v(last)), f(m.get('teacher_entropy')), f(m.get('teacher_mean_entropy')),
        f(m.get('feature_std')), '–' if m.get('collapsed_share') is None else '%.0f %%' % (100 * m['collapsed_share'])))
PY
}

# The raw-pixel k-NN (32 × 32 gray, same weighted vote) of each set the k-NN evaluates.
pixels() {
    split_glyphs
    local tr va
    for ev in digits glyphs glyphs-holdout wild; do
        tr=$(train_dir "${ev%-holdout}")
        case "$ev" in
            glyphs) va=$OUT/glyphs-split/tune ;;
            glyphs-holdout) va=$OUT/glyphs-split/holdout ;;
            *) va=$(dirname "$tr")/val ;;
        esac
        echo "$ev $("${PYTHON:-python3}" scripts/knn_pixels.py "$tr" "$va")"
    done
}

case "${1:-}" in
    table) table ;;
    pixels) pixels ;;
    all)
        for seed in 0 1 2; do for set in digits glyphs scenes wild; do for method in dino dinov2 distill dinov3; do
            piece "$method:$set:$seed"
        done; done; done
        for method in dino dinov2; do piece "$method:glyphs:0:vit_tiny_patch4"; done
        table ;;
    "") sed -n '2,33p' "$0"; exit 2 ;;
    *) for p in "$@"; do piece "$p"; done ;;
esac
