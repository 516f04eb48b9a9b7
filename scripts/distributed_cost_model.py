#!/usr/bin/env python3
"""Cost model of one data-parallel training step (docs/benchmarks-distributed.md).

    step = forward + backward + optimiser, with the gradient all-reduce of each DDP bucket
    (reverse registration order, 1 MiB first, 25 MiB after) started when backward has produced
    it and run one after another on the network:

      t_allreduce(P) = 2 (N - 1) alpha + 2 (N - 1) / N * P / beta          (ring all-reduce)
      ready_k        = t_fwd + t_bwd * (bytes of buckets 0..k) / G          (gradients appear
                                                                            linearly in backward)
      end_k          = max(ready_k, end_{k-1}) + t_allreduce(size_k)
      step           = max(t_fwd + t_bwd, end_last) + t_opt                 (with overlap)
      step_no_overlap = t_fwd + t_bwd + sum_k t_allreduce(size_k) + t_opt

Compute comes from a measured one-rank step (seconds per image per node, split 1 : 2 between
forward and backward as for a ViT, the optimiser's share given); alpha and beta from
`dino bench allreduce` (scripts/bench_allreduce.sh) or the network's figures.

    python3 scripts/distributed_cost_model.py --seconds-per-image 0.45 --params 44e6 \\
        --per-node-batch 32 --optimizer-seconds 0.05
    # check against measurements: --nodes 2,3 --gbits 0 --bandwidth-gbs 0.2 --alpha-us 30
    python3 scripts/distributed_cost_model.py --check OUT/summary.jsonl --params 44e6 \\
        --bandwidth-gbs 0.5 --alpha-us 100      # OUT from scripts/bench_distributed_step.sh
"""
import argparse


def buckets(total_bytes, first=1 << 20, cap=25 << 20):
    """Bucket sizes in bytes, in launch order (the parameters' own sizes are ignored)."""
    out, left = [], total_bytes
    while left > 0:
        size = min(left, first if not out else cap)
        out.append(size)
        left -= size
    return out


def step_time(n, per_node_batch, seconds_per_image, grad_bytes, beta, alpha, optimizer_seconds, overlap=True):
    compute = seconds_per_image * per_node_batch
    t_fwd, t_bwd = compute / 3, 2 * compute / 3
    if n == 1:
        return compute + optimizer_seconds, 0.0
    sizes = buckets(grad_bytes)
    ar = [2 * (n - 1) * alpha + 2 * (n - 1) / n * p / beta for p in sizes]
    if not overlap:
        return compute + sum(ar) + optimizer_seconds, sum(ar)
    end, done = 0.0, 0
    for p, t in zip(sizes, ar):
        done += p
        ready = t_fwd + t_bwd * done / grad_bytes
        end = max(ready, end) + t
    step = max(compute, end) + optimizer_seconds
    return step, max(0.0, end - compute)


def check(summary_path, params, bandwidth, alpha_us, optimizer_seconds):
    """Predicted against measured step times of scripts/bench_distributed_step.sh's arms.

    Each rank count's compute is measured, not modelled: the no-overlap arm's step time less
    its wait for the all-reduces (what the ranks compute when they do not communicate, with
    whatever they take from each other's cores and memory). The model then predicts the
    communication two ways: with the overlap (buckets started as backward produces them, the
    transfers progressing beside the compute, as a NIC moves data while the cores compute)
    and serial (every all-reduce after backward: the no-overlap arm, and any transport whose
    copies and sums need the cores that backward is using, as shared memory does)."""
    import json
    arms = {r["arm"]: r for r in (json.loads(l) for l in open(summary_path) if l.strip())}
    grad_bytes = int(params * 4)
    print(f"gradients {grad_bytes / 2**20:.1f} MiB in {len(buckets(grad_bytes))} buckets; "
          f"bus bandwidth {bandwidth:g} GB/s, alpha {alpha_us:g} us")
    print(f"{'arm':>8} {'ranks':>5} {'compute s':>9} {'measured s':>10} {'overlap s':>9} {'error':>7} {'serial s':>8} {'error':>7}")
    for n in sorted({r["ranks"] for r in arms.values() if r["ranks"] > 1}):
        plain, overlapped = arms.get(f"r{n}t1-no"), arms.get(f"r{n}t1")
        if plain is None:
            continue
        per_rank = plain["global_batch"] // n
        compute = plain["step_seconds"] - plain["comm_wait_seconds"] - optimizer_seconds
        for arm in (overlapped, plain):
            if arm is None:
                continue
            row = []
            for overlap in (True, False):
                t, _ = step_time(n, per_rank, compute / per_rank, grad_bytes, bandwidth * 1e9, alpha_us * 1e-6,
                                 optimizer_seconds, overlap=overlap)
                row += [t, t / arm["step_seconds"] - 1]
            print(f"{arm['arm']:>8} {n:>5} {compute:>9.3f} {arm['step_seconds']:>10.3f} "
                  f"{row[0]:>9.3f} {row[1]:>+7.1%} {row[2]:>8.3f} {row[3]:>+7.1%}")


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--check", metavar="SUMMARY", help="compare with scripts/bench_distributed_step.sh's summary.jsonl "
                   "(uses --params, --bandwidth-gbs, --alpha-us, --optimizer-seconds)")
    a.add_argument("--seconds-per-image", type=float, help="measured compute per image on one node")
    a.add_argument("--params", type=float, required=True, help="trained parameters (Float32 gradients)")
    a.add_argument("--per-node-batch", type=int, default=32)
    a.add_argument("--optimizer-seconds", type=float, default=0.0, help="clip + AdamW + EMA per step")
    a.add_argument("--nodes", default="1,8,32,128")
    a.add_argument("--gbits", default="10,100", help="link speeds in Gbit/s (0: use --bandwidth-gbs)")
    a.add_argument("--bandwidth-gbs", type=float, default=0.0, help="measured bus bandwidth in GB/s")
    a.add_argument("--alpha-us", type=float, default=20.0, help="latency per message in microseconds")
    a.add_argument("--efficiency", type=float, default=0.8, help="share of the link rate an all-reduce reaches")
    args = a.parse_args()
    if args.check:
        return check(args.check, args.params, args.bandwidth_gbs, args.alpha_us, args.optimizer_seconds)
    if args.seconds_per_image is None:
        a.error("--seconds-per-image is required (or --check SUMMARY)")
    grad_bytes = int(args.params * 4)
    print(f"gradients {grad_bytes / 2**20:.1f} MiB in {len(buckets(grad_bytes))} buckets; "
          f"compute {args.seconds_per_image * args.per_node_batch:.3f} s per step per node")
    print(f"{'link':>10} {'nodes':>6} {'img/s':>10} {'img/s no overlap':>17} {'efficiency':>11} {'exposed comm s':>15}  bottleneck")
    single, _ = step_time(1, args.per_node_batch, args.seconds_per_image, grad_bytes, 1, 0, args.optimizer_seconds)
    for g in [float(x) for x in args.gbits.split(",")]:
        beta = args.bandwidth_gbs * 1e9 if g == 0 else g * 1e9 / 8 * args.efficiency
        for n in [int(x) for x in args.nodes.split(",")]:
            t, exposed = step_time(n, args.per_node_batch, args.seconds_per_image, grad_bytes, beta, args.alpha_us * 1e-6,
                                   args.optimizer_seconds)
            t0, _ = step_time(n, args.per_node_batch, args.seconds_per_image, grad_bytes, beta, args.alpha_us * 1e-6,
                              args.optimizer_seconds, overlap=False)
            rate, rate0 = n * args.per_node_batch / t, n * args.per_node_batch / t0
            eff = rate / (n * args.per_node_batch / single)
            label = "measured" if g == 0 else f"{g:g} Gbit/s"
            print(f"{label:>10} {n:>6} {rate:>10.1f} {rate0:>17.1f} {eff:>10.0%} {exposed:>15.3f}  "
                  + ("network" if exposed > 0.05 * t else "compute"))


if __name__ == "__main__":
    main()
