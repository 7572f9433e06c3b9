#!/usr/bin/env bash
# Data-parallel measurements on this machine, one command (results in benchmarks/README.md):
#   bash benchmarks/distributed.sh [repeats]        (default 3 runs of each training row)
# 1. all-reduce time and bandwidth, 1 KB … 64 MB, through ConvNet's ProcessGroup and through Open
#    MPI's own MPI_Allreduce on the same buffers, then ResNet-18's 44.7 MB gradient set through
#    DistributedDataParallel's buckets against one MPI_Allreduce of the same bytes (2 ranks, TCP);
# 2. training images/s at global batch 64: 1 rank × 2 threads against 2 ranks × 1 thread, for LeNet
#    (28²) and ResNet-18 (96²), with the all-reduce time per step and the part hidden behind backward.
# Each row prints the load average when it ran: the machine may be shared, so compare rows of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats="${1:-3}"
swift build -c release --product convnet-bench >/dev/null
bench=.build/release/convnet-bench
mpi=(mpirun --allow-run-as-root --oversubscribe --mca btl tcp,self -np 2 -x CONVNET_NUM_THREADS=1)
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, uptime:$(uptime | sed 's/.*load/ load/')"
echo "== all-reduce over loopback TCP, 2 ranks"
"${mpi[@]}" "$bench" distributed allreduce
for row in "lenet 28 200" "resnet18 96 6"; do
    set -- $row
    echo "== $1 at $2², global batch 64, $repeats runs each (alternating)"
    for _ in $(seq "$repeats"); do
        CONVNET_NUM_THREADS=2 "$bench" distributed train "$1" "$2" "$3" | grep -v '^#' | sed "s/^/1×2  load $(cut -d' ' -f1 /proc/loadavg)  /"
        "${mpi[@]}" "$bench" distributed train "$1" "$2" "$3" | grep -v '^#' | sed "s/^/2×1  load $(cut -d' ' -f1 /proc/loadavg)  /"
    done
done
