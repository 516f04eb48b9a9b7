#!/usr/bin/env bash
# Issue 14's "does curation help pretraining", in miniature: an uncurated, imbalanced pool
# (scripts/make_curation_pool.py: glyphs-dev train with heavy-tailed near-copies, digits, photo
# crops, noise), curated to N images by each arm, the same model pretrained the same number of
# steps on each, 3 seeds, k-NN on glyphs-dev val (k = 20, bank glyphs-dev train).
#
#   scripts/bench_curate_pretrain.sh prepare           the pool, the embedding model, every arm's list
#   scripts/bench_curate_pretrain.sh train [SEED …]    pretrain every arm (default seeds 0 1 2)
#   scripts/bench_curate_pretrain.sh table             composition and k-NN of every arm
#
# Arms (each N images; curation once, with the pool's embedding model):
#   random      N drawn from the pool at random (no curation)
#   dedup       `dino curate dedup` (k 64, copy-detection descriptor, threshold 0.8), then N at
#               random from what is kept
#   balanced    `dino curate pipeline --target N` without a seed set: dedup (as above), hierarchical
#               k-means of the class tokens, balanced sampling
#   full        `dino curate pipeline --seed SEED.txt --target N --per-image 4`: dedup, retrieval
#               of DINOv2's 4 neighbours of each of 1000 glyphs-dev train images (the seed set),
#               k-means, balanced sampling
#   full-k6     the same with 6 neighbours per seed image, the smallest number that reaches N on
#               this pool (the pipeline's default without --per-image)
#   in-domain   (oracle, for the decomposition) N at random from the pool's glyphs and their
#               copies: filtering done perfectly, no deduplication or balance
#   originals   (oracle) N at random from the glyph originals alone: filtering and deduplication
#               done perfectly
# random → in-domain is what filtering out off-domain images is worth; in-domain → originals what
# deduplication adds on top; full against both says how much of that the pipeline recovers.
# The embedding model is `dino` (its defaults) trained on the whole pool for about as many steps
# as each arm (its own k-NN is reported as the "whole pool" row).
#
# Budget (2 cores, 1 thread each, machine shared with one other 1-thread job): prepare about
# 10 minutes; each pretraining (vit_nano_patch4, N = 3000, 5 epochs = 230 steps) about 8 minutes,
# 7 arms × 3 seeds about 3 hours — run seeds as separate pieces; finished runs are skipped.
#
# Environment: DINO (binary, default .build/release/dino), PYTHON (with numpy and pillow), OUT
# (default runs/curate-pretrain), N (3000), EPOCHS (5), MODEL (vit_nano_patch4), METHOD (dino),
# THREADS (1), DATASETS (../shared/datasets), DEDUP_THRESHOLD (0.8), ARMS (all seven, in the order above:
# a subset runs one queue beside another).
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-runs/curate-pretrain}
N=${N:-3000}
EPOCHS=${EPOCHS:-5}
MODEL=${MODEL:-vit_nano_patch4}
METHOD=${METHOD:-dino}
THREADS=${THREADS:-1}
DATASETS=${DATASETS:-../shared/datasets}
DEDUP_THRESHOLD=${DEDUP_THRESHOLD:-0.8}
BATCH=64   # the trainer's default batch size
ARMS=${ARMS:-"random dedup balanced full full-k6 in-domain originals"}
mkdir -p "$OUT/arms"
RESULTS="$OUT/results.jsonl"

# pick LIST N SEED [KINDS] → N paths of LIST (or of the manifest's images of KINDS) at random
pick() {
    python3 - "$OUT/pool/manifest.jsonl" "$@" <<'PY'
import json, random, sys
manifest, source, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if source.startswith('kinds:'):
    kinds = set(source[6:].split(','))
    paths = [r['path'] for r in map(json.loads, open(manifest)) if r['kind'] in kinds]
else:
    paths = [l.strip() for l in open(source) if l.strip()]
random.Random(seed).shuffle(paths)
print('\n'.join(sorted(paths[:n])))
PY
}

epochs_for() {  # epochs_for IMAGES → epochs giving each arm about EPOCHS × floor(N / BATCH) steps
    python3 -c "import sys; n, m, e, b = map(int, sys.argv[1:]); print(max(1, round(e * (n // b) / max(1, m // b))))" "$N" "$1" "$EPOCHS" "$BATCH"
}

prepare() {
    [ -f "$OUT/pool/manifest.jsonl" ] || "$PYTHON" scripts/make_curation_pool.py "$OUT/pool" --datasets "$DATASETS"
    python3 -c "import json,sys; [print(json.loads(l)['path']) for l in open(sys.argv[1])]" "$OUT/pool/manifest.jsonl" > "$OUT/pool/pool.txt"
    local pool_size; pool_size=$(wc -l < "$OUT/pool/pool.txt")
    if [ ! -f "$OUT/embedder/teacher.safetensors" ] && ! ls "$OUT/embedder/checkpoints/"*.json > /dev/null 2>&1; then
        echo "== embedding model: $METHOD on the whole pool ($pool_size images, $(epochs_for "$pool_size") epochs)"
        "$DINO" train --method "$METHOD" --model "$MODEL" --data "$OUT/pool/pool.txt" --out "$OUT/embedder" \
            --epochs "$(epochs_for "$pool_size")" --seed 0 --threads "$THREADS" --quiet > "$OUT/embedder.log" 2>&1
    fi
    local a=$OUT/arms
    [ -f "$a/random.txt" ] || pick "$OUT/pool/pool.txt" "$N" 0 > "$a/random.txt"
    [ -f "$a/in-domain.txt" ] || pick kinds:glyph,glyph-copy "$N" 0 > "$a/in-domain.txt"
    [ -f "$a/originals.txt" ] || pick kinds:glyph "$N" 0 > "$a/originals.txt"
    # Deduplication as DINOv2 did it, with a copy-detection descriptor (here DINO's: class token ⊕
    # GeM patch tokens, whitened on the pool) and class tokens for retrieval and clustering; its
    # threshold is the best-F1 one of scripts/bench_curate_dedup.py on ITS pool 0 (0.80 with a
    # trained vit_nano_patch4, docs/benchmarks-curate.md), not chosen on this pool.
    local dd=(--descriptor copy-detection --image-size 32 --threshold "$DEDUP_THRESHOLD")
    if [ ! -f "$a/dedup.txt" ]; then
        "$DINO" curate dedup --run "$OUT/embedder" --pool "$OUT/pool/pool.txt" --out "$a/dedup" "${dd[@]}" --threads "$THREADS" \
            > "$a/dedup.log" 2>&1
        pick "$a/dedup/kept.txt" "$N" 0 > "$a/dedup.txt"
    fi
    local pipe=(--run "$OUT/embedder" --target "$N" --dedup-descriptor copy-detection --dedup-image-size 32
                --threshold "$DEDUP_THRESHOLD" --threads "$THREADS")
    if [ ! -f "$a/balanced.txt" ]; then
        "$DINO" curate pipeline --pool "$OUT/pool/pool.txt" "${pipe[@]}" --out "$a/balanced" > "$a/balanced.log" 2>&1
        cp "$a/balanced/kept.txt" "$a/balanced.txt"
    fi
    if [ ! -f "$a/full.txt" ]; then
        "$DINO" curate pipeline --embeddings "$a/balanced/pool_embeddings.safetensors" --seed "$OUT/pool/seed.txt" "${pipe[@]}" \
            --per-image 4 --out "$a/full" > "$a/full.log" 2>&1
        cp "$a/full/kept.txt" "$a/full.txt"
    fi
    # The full pipeline ends under N with DINOv2's 4 neighbours per seed image (2491 here); with
    # 6, the smallest number that reaches N on this pool (chosen by the count, not by k-NN) —
    # what the pipeline now picks by itself when --per-image is not given.
    if [ ! -f "$a/full-k6.txt" ]; then
        "$DINO" curate pipeline --embeddings "$a/balanced/pool_embeddings.safetensors" --seed "$OUT/pool/seed.txt" "${pipe[@]}" \
            --per-image 6 --out "$a/full-k6" > "$a/full-k6.log" 2>&1
        cp "$a/full-k6/kept.txt" "$a/full-k6.txt"
    fi
    composition
}

# composition → OUT/arms/composition.json: per arm, images of each kind, distinct originals, and
# the largest number of images of one original
composition() {
    python3 - "$OUT/pool/manifest.jsonl" "$OUT/arms" $ARMS <<'PY'
import collections, json, sys
manifest, arms = sys.argv[1], sys.argv[2]
rows = {r['path']: r for r in map(json.loads, open(manifest))}
out = {}
for arm in sys.argv[3:]:
    paths = [l.strip() for l in open(f'{arms}/{arm}.txt') if l.strip()]
    kinds = collections.Counter(rows[p]['kind'] for p in paths)
    per_original = collections.Counter(rows[p]['original'] for p in paths if rows[p]['original'] is not None)
    out[arm] = {'images': len(paths), 'kinds': dict(kinds), 'distinct_originals': len(per_original),
                'most_of_one_original': max(per_original.values(), default=0)}
json.dump(out, open(f'{arms}/composition.json', 'w'), indent=1)
for arm, c in out.items():
    print(arm, json.dumps(c))
PY
}

knn() {  # knn RUN → top-1 on glyphs-dev val
    "$DINO" eval knn --train "$DATASETS/glyphs-dev/train" --val "$DATASETS/glyphs-dev/val" --run "$1" --k 20 --json \
        --threads "$THREADS" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['top1'])"
}

monitors() {  # monitors RUN → the collapse monitors of the last fifth of the run's logged steps
    python3 - "$1/metrics.jsonl" <<'PY'
import json, sys
rows = list({r['step']: r for r in map(json.loads, filter(str.strip, open(sys.argv[1])))}.values())
rows = rows[len(rows) * 4 // 5:]
def mean(k):
    v = [r[k] for r in rows if r.get(k) is not None]
    return round(sum(v) / len(v), 4) if v else None
print(json.dumps({k: mean(k) for k in ('teacher_entropy', 'teacher_mean_entropy', 'feature_std', 'collapse', 'loss')}))
PY
}

train() {
    [ -f "$OUT/arms/composition.json" ] || { echo "run '$0 prepare' first" >&2; exit 2; }
    touch "$RESULTS"
    if ! grep -q '"arm": "whole pool"' "$RESULTS"; then
        echo "{\"arm\": \"whole pool\", \"seed\": 0, \"images\": $(wc -l < "$OUT/pool/pool.txt"), \"top1\": $(knn "$OUT/embedder"), \"monitors\": $(monitors "$OUT/embedder")}" >> "$RESULTS"
    fi
    local seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
    for seed in "${seeds[@]}"; do for arm in $ARMS; do
        grep -q "\"arm\": \"$arm\", \"seed\": $seed," "$RESULTS" && continue
        local run=$OUT/train/$arm-s$seed images; images=$(wc -l < "$OUT/arms/$arm.txt")
        rm -rf "$run"; mkdir -p "$OUT/train"
        echo "== $arm, seed $seed: $images images, $(epochs_for "$images") epochs"
        local t0; t0=$(date +%s)
        "$DINO" train --method "$METHOD" --model "$MODEL" --data "$OUT/arms/$arm.txt" --out "$run" --epochs "$(epochs_for "$images")" \
            --seed "$seed" --threads "$THREADS" --quiet > "$run.log" 2>&1
        echo "{\"arm\": \"$arm\", \"seed\": $seed, \"images\": $images, \"top1\": $(knn "$run"), \"seconds\": $(( $(date +%s) - t0 )), \"monitors\": $(monitors "$run")}" \
            | tee -a "$RESULTS"
    done; done
}

table() {
    python3 - "$RESULTS" "$OUT/arms/composition.json" <<'PY'
import collections, json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
comp = json.load(open(sys.argv[2]))
by = collections.defaultdict(list)
for r in rows:
    by[r['arm']].append(r)
print('| arm | images | glyph originals | copies | off-domain (digit / photo / noise) | most of one original | k-NN top-1 % by seed | mean ± sd | H(q) / H(q̄) | feature std |')
print('|---|---:|---:|---:|---|---:|---|---|---|---:|')
for arm in ['whole pool', 'random', 'dedup', 'balanced', 'full', 'full-k6', 'in-domain', 'originals']:
    rs = sorted(by.get(arm, []), key=lambda r: r['seed'])
    if not rs:
        continue
    c = comp.get(arm, {})
    k = c.get('kinds', {})
    top = [r['top1'] for r in rs]
    ms = ' ± '.join(['%.1f' % statistics.mean(top)] + (['%.1f' % statistics.stdev(top)] if len(top) > 1 else []))
    m = rs[-1]['monitors']
    f = lambda x: '–' if x is None else '%.2f' % x
    print('| %s | %d | %s | %s | %s | %s | %s | %s | %s / %s | %s |' % (
        arm, rs[0]['images'], k.get('glyph', '–'), k.get('glyph-copy', '–'),
        ' / '.join(str(k.get(x, 0)) for x in ('digit', 'photo', 'noise')) if c else '–',
        c.get('most_of_one_original', '–'), ', '.join('%.1f' % t for t in top), ms,
        f(m.get('teacher_entropy')), f(m.get('teacher_mean_entropy')), f(m.get('feature_std'))))
PY
}

case "${1:-}" in
    prepare) prepare ;;
    train) shift; train "$@" ;;
    table) table ;;
    composition) composition ;;
    *) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 2 ;;
esac
