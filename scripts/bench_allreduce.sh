#!/usr/bin/env bash
# All-reduce bandwidth of the gradient buckets' sizes (DDP: 1 MiB first, 25 MiB after) on
# shared memory (Open MPI's vader BTL) and on TCP loopback, for 2 and 3 ranks, with
# `dino bench allreduce` (every result is checked). docs/benchmarks-distributed.md.
#
#   scripts/bench_allreduce.sh [SIZES] [REPEATS]
#   DINO=.build/release/dino scripts/bench_allreduce.sh 1048576,26214400 5
#
# The timed part is MPI's own (the buffers are filled and checked outside the timing), so a
# debug build of `dino` gives the same figures as a release one.
set -euo pipefail
DINO=${DINO:-.build/release/dino}
SIZES=${1:-262144,1048576,4194304,26214400}
REPEATS=${2:-5}
COMMON=(--oversubscribe --allow-run-as-root --bind-to none --mca mpi_yield_when_idle 1)
for ranks in 2 3; do
    echo "== shared memory (vader), $ranks ranks"
    mpirun -np "$ranks" "${COMMON[@]}" --mca btl vader,self --mca btl_vader_single_copy_mechanism none \
        "$DINO" bench allreduce --sizes "$SIZES" --repeats "$REPEATS"
    echo "== TCP loopback, $ranks ranks"
    mpirun -np "$ranks" "${COMMON[@]}" --mca btl tcp,self --mca btl_tcp_if_include lo \
        "$DINO" bench allreduce --sizes "$SIZES" --repeats "$REPEATS"
done
