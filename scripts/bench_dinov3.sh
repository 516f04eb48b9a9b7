#!/usr/bin/env bash
# DINOv3 benchmarks of issue 12 (docs/dinov3.md), for the lead to run: dense quality of
# `dinov3` against `dinov2` at equal epochs, and what Gram anchoring does over a long run.
#
# Data: ../shared/datasets/scenes-dev at 32 px (the 64-px scenes are downscaled by the crops:
# crops.global_size=32, local 16 px, 6 local crops), dense probes on scenes-dev/val
# (linear segmentation mIoU with scenes-dev/masks, DINOv2's linear depth head lin.1 for 2
# epochs, RMSE, with scenes-dev/depth), DINO's video label propagation on videos-dev (J&F) and
# weighted k-NN (k=20) on glyphs-dev; a fresh run is evaluated at epoch 0 (its random init). Model: vit_nano_patch4 for dinov2 and
# dinov3_vit_nano_patch4 (the same sizes in DINOv3's layout) for dinov3; batch 64.
#
#   scripts/bench_dinov3.sh train METHOD RUN EPOCHS [EVAL_EVERY] [key=value …]
#       trains METHOD into RUN one epoch at a time (resuming) and evaluates every EVAL_EVERY
#       epochs (default 2): RUN/eval-per-epoch.jsonl, one line {"epoch", "step",
#       "train_seconds", "segmentation", "depth", "video", "knn"} per evaluation.
#       Extra arguments go to `dino train` (e.g. --from RUN0 gram.use_loss=true).
#   scripts/bench_dinov3.sh compare OUT [EPOCHS] [SEEDS]
#       dinov2 against dinov3, EPOCHS (default 20) each, seeds 0..SEEDS-1 (default 1; run 3
#       where the arms differ by less than 3 points): OUT/{dinov2,dinov3}-seed*/.
#   scripts/bench_dinov3.sh speed OUT [STEPS]
#       training images/s of `dinov3` on dinov3_vit_nano_patch4 (2×32 + 6×16 px crops of
#       scenes-dev, batch 64) beside scripts/bench_dinov3_peer.py, a PyTorch loop of the official
#       step (SSLMetaArch's forward_backward and loss modules, run from a checkout: DINOV3=PATH,
#       PYTHON with torch); REPEATS rounds (default 3), medians and their ratio; GRAM=1 adds the
#       Gram teacher (loaded from the EMA teacher at step 0) on both sides. Needs an idle machine;
#       about 2 minutes a round.
#   scripts/bench_dinov3.sh profile OUT [WARMUP] [STEPS]
#       the same step profiled on both sides (`dino train --profile` and torch.profiler, WARMUP
#       steps (3) then STEPS (5)), joined by phase and kind of op (scripts/bench_profile_join.py).
#   scripts/bench_dinov3.sh gram OUT [BASE_EPOCHS] [EPOCHS]
#       Gram anchoring: a dinov3 run of BASE_EPOCHS (default 10) in OUT/base, then two
#       continuations from it (`--from`, same fresh optimiser and schedules) of EPOCHS
#       (default 30) each: OUT/plain (no Gram) and OUT/gram (gram.use_loss=true: the Gram
#       teacher is OUT/base's teacher — the snapshot rule, fixed before the run — refreshed
#       from the EMA teacher every 10 epochs, at most 2 times, img_level true, weight 0 → 2
#       over the first epoch as the anchoring config ramps it). Metrics every EVERY epochs;
#       then OUT/gram.md (a table) and OUT/gram.png (one panel per metric against the epoch:
#       base grey, plain black, gram red).
#       PARALLEL=1 runs the two continuations side by side, each on half the threads.
#       SEED=S trains base and arms with --seed S (unset: the runs' default seed, 0).
#       LATE=E (an epoch counted from the base run's start, after it) adds a third arm,
#       OUT/gram-late: the plain arm's state at epoch E is kept (OUT/plain-at-E) and continued
#       to the same last epoch with the Gram arm's settings, its Gram teacher that state's
#       teacher — anchoring to a later snapshot; it runs after the other two, on all threads.
#   scripts/bench_dinov3.sh gram-report OUT
#       OUT/gram.md and OUT/gram.png from the evaluations so far (of arms cut off part-way: up
#       to the epoch both have reached); the plot is labelled when PYTHON has matplotlib, a
#       bare raster otherwise.
#   scripts/bench_dinov3.sh highres OUT BASE_RUN [EPOCHS]
#       the high-resolution phase (`--phase high-res --from BASE_RUN`: 48/64-px global crops,
#       Gram anchoring on BASE_RUN's final teacher) against the base recipe continued at 64 px
#       (global 64, local 32 px) for the same EPOCHS (default 5) without Gram anchoring, both
#       from BASE_RUN (a dinov3 run at 32 px: the `gram` mode's OUT/base); BASE_RUN and both
#       arms judged at 32- and 64-px input (segmentation mIoU, depth RMSE) and by video J&F:
#       OUT/{before,highres,continued}.json and OUT/highres.md.
#
# Budget on the Zen 5 host (measured 2026-12-08, `gram` with SEED=1 LATE=20 PARALLEL=1 EVERY=5):
# base ≈ 40 s an epoch on 2 threads, the two continuations ≈ 62 s an epoch each side by side,
# gram-late ≈ 35 s an epoch on 2 threads, an evaluation point ≈ 40–60 s: about 68 minutes in all,
# each arm under 45.
# Budget (2 cores, idle, measured 2026-12-07 on the Zen 4 host): dinov3 on
# dinov3_vit_nano_patch4 trains at 33–41 images/s (batch 64), so an epoch of scenes-dev/train
# (3000 images, 46 steps) takes 75–90 s; one evaluation point (segmentation 20 epochs, depth
# lin.1 2 epochs, video, k-NN) about 70 s. `compare` with 20 epochs and EVERY=2: ≈ 28 min of
# training and 11 evaluations ≈ 41 min per arm and seed. `gram` with 10 + 30 epochs: base
# ≈ 20 min; each arm 40–45 min of training (the Gram arm one extra teacher forward a step),
# plus 16 evaluations with EVERY=2 (≈ 19 min) — over 45 minutes, so run it in pieces (an arm
# cut off goes on from its newest checkpoint) or with EVERY=5 (7 evaluations, ≈ 8 min), which
# fits. PARALLEL=1 halves each arm's speed and runs both at once. `speed`: about 2 minutes a
# round; `profile`: about 2 minutes. `highres`: a 64-px step costs about 4× a 32-px one (4× the
# patches), so 5 epochs ≈ 35–40 min per arm (not yet measured), and each judgement about
# 10 minutes (the 64-px depth probe dominates): ≈ 110 minutes in all, each arm under 45.
#
# Environment: DINO (binary, default .build/release/dino), SCENES (default
# ../shared/datasets/scenes-dev), GLYPHS (default ../shared/datasets/glyphs-dev), VIDEOS
# (default ../shared/datasets/videos-dev), THREADS (default: all cores), EVERY (evaluation
# period in epochs for `gram`, default 2), FRESH (set: start arms again rather than resume).
set -euo pipefail
cd "$(dirname "$0")/.."
DINO=${DINO:-.build/release/dino}
SCENES=${SCENES:-../shared/datasets/scenes-dev}
GLYPHS=${GLYPHS:-../shared/datasets/glyphs-dev}
VIDEOS=${VIDEOS:-../shared/datasets/videos-dev}
THREADS=${THREADS:-$(nproc)}
mode=${1:-}
PYTHON=${PYTHON:-python3}
# GRAM=1 (speed, profile): the Gram teacher on both sides, loaded from the EMA teacher at step 0.
gram_args=() peer_args=() tag=base
if [ -n "${GRAM:-}" ]; then gram_args=(gram.use_loss=true gram.it_load_ema_teacher=0); peer_args=(--gram); tag=gram; fi

newest_state() {  # newest_state RUN KEY → the value of KEY in the newest train state
    python3 -c "import json,os,sys; d=sys.argv[1]+'/checkpoints'; f=sorted(x for x in os.listdir(d) if x.endswith('.json'))[-1]; print(json.load(open(os.path.join(d,f)))[sys.argv[2]])" "$1" "$2"
}
segmentation_of() {  # segmentation_of RUN [INPUT_SIZE] → the probe's JSON
    "$DINO" eval segmentation --run "$1" --train "$SCENES/train" --val "$SCENES/val" --masks "$SCENES/masks" \
        ${2:+--input-size "$2"} --json --threads "$THREADS" 2>/dev/null
}
depth_of() {  # depth_of RUN [INPUT_SIZE] → DINOv2's lin.1 depth head (DEPTH_EPOCHS, default 2), JSON
    "$DINO" eval depth --run "$1" --train "$SCENES/train" --val "$SCENES/val" --depth "$SCENES/depth" \
        ${2:+--input-size "$2"} --layers 1 --max-depth 16 --epochs "${DEPTH_EPOCHS:-2}" --json --threads "$THREADS" 2>/dev/null
}
video_of() {  # video_of RUN → {"jf", "j", "f"} of label propagation on VIDEOS
    "$DINO" eval video --data "$VIDEOS" --run "$1" --json --threads "$THREADS" 2>/dev/null \
        | python3 -c "import json,sys; d=json.load(sys.stdin)['propagation']; print(json.dumps({'jf': d['jf_mean'], 'j': d['j_mean'], 'f': d['f_mean']}))"
}
evaluate() {  # evaluate RUN → {"segmentation": …, "depth": …, "video": …, "knn": …}
    local knn
    knn=$("$DINO" eval knn --train "$GLYPHS/train" --val "$GLYPHS/val" --run "$1" --k 20 --json --threads "$THREADS" 2>/dev/null)
    echo "{\"segmentation\": $(segmentation_of "$1"), \"depth\": $(depth_of "$1"), \"video\": $(video_of "$1"), \"knn\": $knn}"
}
model_of() { [ "$1" = dinov3 ] && echo dinov3_vit_nano_patch4 || echo vit_nano_patch4; }

train() {  # train METHOD RUN EPOCHS EVAL_EVERY [args…]
    # A run cut off part-way goes on from its newest checkpoint, skipping the evaluations it
    # already has (FRESH=1 starts again).
    local method=$1 run=$2 epochs=$3 every=$4; shift 4
    if [ -n "${FRESH:-}" ] || [ ! -f "$run/eval-per-epoch.jsonl" ]; then
        rm -rf "$run"
        "$DINO" train --method "$method" --model "$(model_of "$method")" --data "$SCENES/train" --out "$run" --epochs "$epochs" \
            --batch-size 64 --threads "$THREADS" --max-steps 0 --quiet crops.global_size=32 crops.local_size=16 crops.local_count=6 \
            "$@" > /dev/null
        : > "$run/eval-per-epoch.jsonl"
        # Epoch 0: the random initialisation (a run started --from another is that run's end).
        [[ " $* " == *" --from "* ]] || echo "{\"epoch\": 0, \"step\": 0, \"train_seconds\": 0, $(evaluate "$run" | cut -c2-)" \
            | tee -a "$run/eval-per-epoch.jsonl"
    fi
    local steps; steps=$(newest_state "$run" batchesPerEpoch)
    for e in $(seq 1 "$epochs"); do
        grep -q "^{\"epoch\": $e," "$run/eval-per-epoch.jsonl" && continue
        local at; at=$(newest_state "$run" step)
        [ "$at" -gt $((e * steps)) ] && continue   # past this epoch already (EVERY changed between pieces)
        [ "$at" -lt $((e * steps)) ] \
            && "$DINO" train --data "$SCENES/train" --out "$run" --resume --threads "$THREADS" --max-steps $((e * steps)) --quiet > /dev/null
        if [ $((e % every)) -eq 0 ] || [ "$e" -eq "$epochs" ]; then
            echo "{\"epoch\": $e, \"step\": $(newest_state "$run" step), \"train_seconds\": $(newest_state "$run" elapsedSeconds), $(evaluate "$run" | cut -c2-)" \
                | tee -a "$run/eval-per-epoch.jsonl"
        fi
        # SNAPSHOT_EPOCH / SNAPSHOT_TO (set by the caller): the run as it stands after that epoch,
        # copied once (its newest checkpoint is that epoch's, which `--from` takes).
        if [ -n "${SNAPSHOT_TO:-}" ] && [ "$e" -eq "${SNAPSHOT_EPOCH:-0}" ] && [ ! -d "$SNAPSHOT_TO" ]; then
            cp -r "$run" "$SNAPSHOT_TO.part" && mv "$SNAPSHOT_TO.part" "$SNAPSHOT_TO"
        fi
    done
}

gram_report() {  # gram_report OUT → OUT/gram.md and OUT/gram.png from the evaluations so far
    "$PYTHON" - "$1" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
arms = {}
for arm in ("base", "plain", "gram", "gram-late"):
    path = f"{out}/{arm}/eval-per-epoch.jsonl"
    arms[arm] = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
base_epochs = arms["base"][-1]["epoch"]
for arm in ("plain", "gram"):  # epochs counted from the start of the base run, which both continue
    arms[arm] = [arms["base"][-1]] + [dict(r, epoch=r["epoch"] + base_epochs) for r in arms[arm]]
# The late arm (LATE=E) continues the plain arm's state at epoch E (OUT/plain-at-E).
late = [int(p.rsplit("-", 1)[1]) for p in glob.glob(f"{out}/plain-at-*") if p.rsplit("-", 1)[1].isdigit()]
if arms["gram-late"] and late:
    start = [r for r in arms["plain"] if r["epoch"] == late[0]]
    arms["gram-late"] = start + [dict(r, epoch=r["epoch"] + late[0]) for r in arms["gram-late"]]
else:
    arms.pop("gram-late")
shown = [a for a in ("plain", "gram", "gram-late") if a in arms]
metrics = [("segmentation mIoU %", lambda r: r["segmentation"]["miou"]),
           ("depth RMSE m", lambda r: r["depth"]["metrics"]["rmse"]),
           ("video J&F %", lambda r: 100 * r["video"]["jf"]),
           ("k-NN top-1 %", lambda r: r["knn"].get("top1"))]
with open(f"{out}/gram.md", "w") as f:
    f.write("| epoch | " + " | ".join(f"{n} {a}" for n, _ in metrics for a in shown) + " |\n")
    f.write("|---" * (1 + len(shown) * len(metrics)) + "|\n")
    for r in arms["base"][:-1]:
        f.write(f"| {r['epoch']} (base) | " + " | ".join(" | ".join([f"{m(r):.4g}"] * len(shown)) for _, m in metrics) + " |\n")
    by_epoch = {a: {r["epoch"]: r for r in arms[a]} for a in shown}
    for a in arms["plain"][:min(len(arms["plain"]), len(arms["gram"]))]:
        e = a["epoch"]
        f.write(f"| {e} | " + " | ".join(" | ".join(f"{m(by_epoch[x][e]):.4g}" if e in by_epoch[x] else ""
                                                     for x in shown) for _, m in metrics) + " |\n")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6))
    for ax, (name, metric) in zip(axes, metrics):
        for arm, colour in (("base", "grey"), ("plain", "black"), ("gram", "tab:red"), ("gram-late", "tab:blue")):
            if arms.get(arm):
                ax.plot([r["epoch"] for r in arms[arm]], [metric(r) for r in arms[arm]], marker="o", color=colour,
                        label={"base": "base run", "plain": "continued, no Gram", "gram": "continued, Gram anchoring",
                               "gram-late": f"Gram anchoring from epoch {late[0] if late else ''}"}[arm])
        ax.set_title(name)
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize=8)
    fig.suptitle("dinov3 on scenes-dev: Gram anchoring after the base run")
    fig.tight_layout()
    fig.savefig(f"{out}/gram.png", dpi=100)
    print(f"{out}/gram.png written")
    print(open(f"{out}/gram.md").read())
    sys.exit(0)
except ImportError:
    pass
# No matplotlib: the curves as a plain raster written with zlib: one panel per metric, left to
# right as in the table; base grey, plain black, gram red; each panel's axes span its metric's
# range (printed to stdout).
import struct, zlib
W, H, P = 1200, 300, 30
panel_w = W // len(metrics)
px = [[(255, 255, 255)] * W for _ in range(H)]
def line(x0, y0, x1, y1, c):
    n = max(abs(x1 - x0), abs(y1 - y0), 1)
    for i in range(n + 1):
        x, y = round(x0 + (x1 - x0) * i / n), round(y0 + (y1 - y0) * i / n)
        for dx in (0, 1):
            if 0 <= x + dx < W and 0 <= y < H: px[y][x + dx] = c
for panel, (name, metric) in enumerate(metrics):
    left = panel * panel_w + P
    right, top, bottom = left + panel_w - 2 * P, P, H - P
    line(left, bottom, right, bottom, (0, 0, 0)); line(left, top, left, bottom, (0, 0, 0))
    values = [metric(r) for rows in arms.values() for r in rows]
    epochs = [r["epoch"] for rows in arms.values() for r in rows]
    lo, hi = min(values), max(values)
    e0, e1 = min(epochs), max(epochs)
    print(f"panel {panel + 1}: {name}, {lo:.4g} (bottom) to {hi:.4g} (top), epochs {e0}-{e1}")
    sx = lambda e: left + (right - left) * (e - e0) / max(e1 - e0, 1)
    sy = lambda v: bottom - (bottom - top) * (v - lo) / max(hi - lo, 1e-9)
    for arm, colour in (("base", (150, 150, 150)), ("plain", (0, 0, 0)), ("gram", (220, 30, 30)), ("gram-late", (30, 80, 220))):
        if arm not in arms: continue
        pts = [(sx(r["epoch"]), sy(metric(r))) for r in arms[arm]]
        for (a, b), (c, d) in zip(pts, pts[1:]): line(int(a), int(b), int(c), int(d), colour)
        for a, b in pts:
            for dy in (-2, -1, 0, 1, 2): line(int(a) - 2, int(b) + dy, int(a) + 2, int(b) + dy, colour)
raw = b"".join(b"\0" + bytes(v for p in row for v in p) for row in px)
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
with open(f"{out}/gram.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
print("gram.png: one panel per metric; base grey, plain black, gram red, gram-late blue")
print(open(f"{out}/gram.md").read())
EOF
}

case "$mode" in
train)
    method=$2 run=$3 epochs=$4 every=${5:-2}; shift 5 || shift $#
    train "$method" "$run" "$epochs" "$every" "$@"
    ;;
compare)
    out=$2 epochs=${3:-20} seeds=${4:-1}
    mkdir -p "$out"
    for seed in $(seq 0 $((seeds - 1))); do
        for method in dinov2 dinov3; do
            train "$method" "$out/$method-seed$seed" "$epochs" 2 --seed "$seed"
        done
    done
    ;;
speed)
    # Training images/s beside the PyTorch loop of the official step (scripts/bench_dinov3_peer.py),
    # one side after the other, REPEATS rounds, medians; GRAM=1 adds the Gram teacher on both sides.
    out=$2 steps=${3:-12} repeats=${REPEATS:-3}
    : "${DINOV3:?DINOV3 must name a checkout of facebookresearch/dinov3}"
    mkdir -p "$out"
    for r in $(seq 1 "$repeats"); do
        # Two runs of different length; the difference removes start-up, the first steps and the
        # final checkpoint (the peer likewise leaves out its first 2 steps).
        for n in 2 $((steps + 2)); do
            rm -rf "$out/swift-speed"
            start=$(date +%s.%N)
            "$DINO" train --method dinov3 --model dinov3_vit_nano_patch4 --data "$SCENES/train" --out "$out/swift-speed" \
                --epochs 1 --batch-size 64 --threads "$THREADS" --max-steps "$n" --quiet \
                crops.global_size=32 crops.local_size=16 crops.local_count=6 "${gram_args[@]}" > /dev/null 2>&1
            end=$(date +%s.%N)
            echo "$n $(python3 -c "print($end - $start)")"
        done | python3 -c "
import sys, json
(n1, t1), (n2, t2) = [(int(a), float(b)) for a, b in (l.split() for l in sys.stdin)]
print(json.dumps({'side': 'swift', 'gram': '$tag' == 'gram', 'steps': n2 - n1, 'seconds': round(t2 - t1, 2),
                  'images_per_second': round((n2 - n1) * 64 / (t2 - t1), 2), 'threads': $THREADS}))" | tee -a "$out/speed-$tag.jsonl"
        "$PYTHON" scripts/bench_dinov3_peer.py --dinov3 "$DINOV3" --train "$SCENES/train" --threads "$THREADS" \
            --warmup 2 --steps "$steps" "${peer_args[@]}" 2>/dev/null | tail -1 | tee -a "$out/speed-$tag.jsonl"
    done
    python3 - "$out/speed-$tag.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {side: statistics.median(r["images_per_second"] for r in rows if r["side"] == side) for side in ("swift", "pytorch")}
print(json.dumps({"file": sys.argv[1], "rounds": len(rows) // 2, "swift_images_per_second": med["swift"],
                  "pytorch_images_per_second": med["pytorch"], "ratio": round(med["swift"] / med["pytorch"], 3)}))
EOF
    ;;
profile)
    # The step profiled on both sides (`dino train --profile` beside torch.profiler), joined by
    # phase and by kind of op (scripts/bench_profile_join.py); GRAM=1 as for speed.
    out=$2 warmup=${3:-3} steps=${4:-5}
    : "${DINOV3:?DINOV3 must name a checkout of facebookresearch/dinov3}"
    mkdir -p "$out"
    rm -rf "$out/swift-profile-$tag"
    "$DINO" train --method dinov3 --model dinov3_vit_nano_patch4 --data "$SCENES/train" --out "$out/swift-profile-$tag" \
        --epochs 1 --batch-size 64 --threads "$THREADS" --max-steps $((warmup + steps)) --quiet --profile "$warmup,$steps" \
        crops.global_size=32 crops.local_size=16 crops.local_count=6 "${gram_args[@]}" > "$out/swift-profile-$tag.txt"
    "$PYTHON" scripts/bench_dinov3_peer.py --dinov3 "$DINOV3" --train "$SCENES/train" --threads "$THREADS" \
        --warmup "$warmup" --steps "$steps" --profile --profile-json "$out/peer-profile-$tag.json" "${peer_args[@]}" \
        > "$out/peer-profile-$tag.txt" 2>/dev/null
    "$PYTHON" scripts/bench_profile_join.py "$out/swift-profile-$tag/profile.json" "$out/peer-profile-$tag.json" \
        | tee "$out/profile-join-$tag.txt"
    ;;
highres)
    # The high-resolution phase against the base recipe continued at 64 px for the same steps
    # without Gram anchoring, both from BASE_RUN (a dinov3 run trained at 32 px, e.g. the `gram`
    # mode's OUT/base); the Gram teacher of the phase is BASE_RUN's final teacher (the snapshot
    # rule, fixed before the run: `--from` takes it). Each model (before, and each arm after) is
    # judged at 32- and 64-px input: segmentation mIoU and depth RMSE (lin.1, DEPTH_EPOCHS, default
    # 2), and video J&F at the clips' 64 px.
    out=$2 base=${3:?usage: $0 highres OUT BASE_RUN [EPOCHS]} epochs=${4:-5}
    mkdir -p "$out"
    judge() {  # judge RUN → {"32": {"segmentation", "depth"}, "64": {…}, "video": {…}}
        local size line="{"
        for size in 32 64; do
            line+="\"$size\": {\"segmentation\": $(segmentation_of "$1" "$size"), \"depth\": $(depth_of "$1" "$size")}, "
        done
        echo "$line\"video\": $(video_of "$1")}"
    }
    arm() {  # arm NAME [args…]: trains OUT/NAME from BASE_RUN (resuming one cut off), then judges it
        local name=$1; shift
        [ -f "$out/$name.json" ] && return
        if [ -d "$out/$name/checkpoints" ] && [ -z "${FRESH:-}" ]; then
            "$DINO" train --data "$SCENES/train" --out "$out/$name" --resume --threads "$THREADS" --quiet > /dev/null
        else
            rm -rf "$out/$name"
            "$DINO" train --method dinov3 --data "$SCENES/train" --out "$out/$name" --from "$base" --epochs "$epochs" \
                --batch-size 64 --threads "$THREADS" --quiet "$@" > /dev/null
        fi
        judge "$out/$name" > "$out/$name.json.part" && mv "$out/$name.json.part" "$out/$name.json"
    }
    [ -f "$out/before.json" ] || { judge "$base" > "$out/before.json.part" && mv "$out/before.json.part" "$out/before.json"; }
    arm highres --phase high-res
    arm continued crops.global_size=64 crops.local_size=32 crops.local_count=6
    python3 - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
rows = [(name, json.load(open(f"{out}/{name}.json"))) for name in ("before", "highres", "continued")]
with open(f"{out}/highres.md", "w") as f:
    f.write("| model | mIoU % at 32 px | mIoU % at 64 px | depth RMSE m at 32 px | depth RMSE m at 64 px | video J&F % (64 px) |\n|---|---:|---:|---:|---:|---:|\n")
    for name, r in rows:
        f.write(f"| {name} | {r['32']['segmentation']['miou']:.2f} | {r['64']['segmentation']['miou']:.2f} | "
                f"{r['32']['depth']['metrics']['rmse']:.4f} | {r['64']['depth']['metrics']['rmse']:.4f} | {100 * r['video']['jf']:.2f} |\n")
print(open(f"{out}/highres.md").read())
EOF
    ;;
gram)
    out=$2 base=${3:-10} epochs=${4:-30}
    mkdir -p "$out"
    seed=()
    [ -n "${SEED:-}" ] && seed=(--seed "$SEED")
    train dinov3 "$out/base" "$base" "${EVERY:-2}" "${seed[@]}"
    plain() {
        # With LATE, train() keeps the plain arm's state at that epoch (its SNAPSHOT_* variables).
        local SNAPSHOT_EPOCH="" SNAPSHOT_TO=""
        if [ -n "${LATE:-}" ]; then SNAPSHOT_EPOCH=$((LATE - base)) SNAPSHOT_TO="$out/plain-at-$LATE"; fi
        train dinov3 "$out/plain" "$epochs" "${EVERY:-2}" --from "$out/base" "${seed[@]}"
    }
    anchored() {  # anchored ARM FROM EPOCHS: the Gram-anchored continuation of FROM
        train dinov3 "$out/$1" "$3" "${EVERY:-2}" --from "$2" "${seed[@]}" gram.use_loss=true gram.img_level=true gram.max_updates=2 \
            gram.update_frequency=$((10 * $(newest_state "$out/base" batchesPerEpoch))) \
            'gram.loss_weight_schedule={"start": 0, "peak": 0, "end": 2, "warmup_epochs": 0, "cosine_epochs": 1}'
    }
    if [ -n "${PARALLEL:-}" ]; then
        # The two continuations side by side on half the threads each: about the same images/s
        # in all, and at any moment both curves reach about the same epoch (for runs cut off
        # part-way and resumed across sessions).
        ( THREADS=$(( (THREADS + 1) / 2 )); plain & anchored gram "$out/base" "$epochs" & wait )
    else
        plain; anchored gram "$out/base" "$epochs"
    fi
    if [ -n "${LATE:-}" ]; then
        [ -d "$out/plain-at-$LATE" ] || { echo "no snapshot $out/plain-at-$LATE: LATE must lie within the plain arm" >&2; exit 2; }
        anchored gram-late "$out/plain-at-$LATE" $((base + epochs - LATE))
    fi
    gram_report "$out"
    ;;
gram-report)
    gram_report "$2"
    ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2
    ;;
esac
