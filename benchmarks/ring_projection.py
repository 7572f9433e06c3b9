#!/usr/bin/env python3
"""Projected data-parallel scaling of ResNet-18 training from the ring all-reduce cost model.

    all-reduce time  T(N) = 2(N-1)/N * bytes / bandwidth + 2(N-1) * latency
    step time        compute + exposed communication, where at most HIDDEN of the all-reduce (the
                     share measured here: the buckets that become ready early enough) and at most
                     the backward pass's length can be hidden

Two ways to add machines:
  * fixed per-machine batch (weak scaling, the global batch grows as 64 N): compute per step stays
    the single machine's; scaling stops only when T(N) exceeds what the backward can hide;
  * fixed global batch 64 (strong scaling): each machine gets 64/N images, compute shrinks as 1/N
    (optimistically: small batches run less efficiently), and T(N) stays ~constant, so communication
    dominates from a few machines on.

Usage: python3 benchmarks/ring_projection.py STEP_SECONDS [BACKWARD_FRACTION] [HIDDEN] [BYTES]
  STEP_SECONDS       one machine's training step at batch 64 (measured: benchmarks/distributed.sh)
  BACKWARD_FRACTION  the part of the step the all-reduce can hide behind (default 0.65, measured)
  HIDDEN             the fraction of the all-reduce that overlapped the backward (default 0.7, measured)
  BYTES              gradient bytes (default ResNet-18 with 10 classes: 44.7e6)
"""
import sys

step = float(sys.argv[1])
backward = float(sys.argv[2]) if len(sys.argv) > 2 else 0.65
hidden_share = float(sys.argv[3]) if len(sys.argv) > 3 else 0.7
size = float(sys.argv[4]) if len(sys.argv) > 4 else 44.7e6
latency = 50e-6      # per ring step on TCP (measured small-message all-reduce here: tens of microseconds)

def allreduce(n, gbps):
    return 2 * (n - 1) / n * size / (gbps * 1e9 / 8) + 2 * (n - 1) * latency

def step_time(compute, comm):
    # the buckets completed late in the backward cannot hide; nor can more than the backward's length
    hidden = min(comm * hidden_share, compute * backward)
    return compute + comm - hidden

print(f"one machine: {step * 1000:.0f} ms/step at batch 64 ({64 / step:.0f} images/s); gradients {size / 1e6:.1f} MB\n")
print("| machines | Gb/s | all-reduce ms | weak: step ms | weak: efficiency | weak: images/s | strong (global 64): step ms | strong: speed-up |")
print("|---|---|---|---|---|---|---|---|")
for gbps in (10, 25, 100):
    for n in (8, 16, 32, 64):
        t = allreduce(n, gbps)
        weak = step_time(step, t)
        strong = step_time(step / n, t)
        print(f"| {n} | {gbps} | {t * 1000:.1f} | {weak * 1000:.0f} | {step / weak:.0%} | {64 * n / weak:,.0f} | {strong * 1000:.0f} | {step / strong:.1f}× |")
