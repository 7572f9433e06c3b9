#!/usr/bin/env python3
"""Projected data-parallel scaling of ResNet-18 training from the ring all-reduce cost model.

    all-reduce time  T(N) = 2(N-1)/N * bytes / bandwidth + 2(N-1) * latency
    step time        max(compute, exposed communication), where communication overlaps the backward
                     pass (all but the last bucket's share can be hidden behind it)

Two ways to add machines:
  * fixed per-machine batch (weak scaling, the global batch grows as 64 N): compute per step stays
    the single machine's; scaling stops only when T(N) exceeds what the backward can hide;
  * fixed global batch 64 (strong scaling): each machine gets 64/N images, compute shrinks as 1/N
    (optimistically: small batches run less efficiently), and T(N) stays ~constant, so communication
    dominates from a few machines on.

Usage: python3 benchmarks/ring_projection.py STEP_SECONDS [BACKWARD_FRACTION] [BYTES]
  STEP_SECONDS       one machine's training step at batch 64 (measured: benchmarks/distributed.sh)
  BACKWARD_FRACTION  the part of the step the all-reduce can hide behind (default 0.6)
  BYTES              gradient bytes (default ResNet-18 with 10 classes: 44.7e6)
"""
import sys

step = float(sys.argv[1])
backward = float(sys.argv[2]) if len(sys.argv) > 2 else 0.6
size = float(sys.argv[3]) if len(sys.argv) > 3 else 44.7e6
latency = 50e-6      # per ring step on TCP (measured small-message all-reduce here: tens of microseconds)
last_bucket = 0.3e6 / size   # the first layers' bucket cannot overlap anything (0.3 MB of 44.7)

def allreduce(n, gbps):
    return 2 * (n - 1) / n * size / (gbps * 1e9 / 8) + 2 * (n - 1) * latency

def step_time(compute, comm):
    # communication beyond what the backward hides is exposed; the last bucket always is
    hidden = min(comm * (1 - last_bucket), compute * backward)
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
