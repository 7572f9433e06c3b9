#!/usr/bin/env python3
"""Run ConvNet's benchmark suite and its PyTorch twin back to back and compare them.

    python3 benchmarks/compare.py --python /path/to/venv/bin/python [--only kernels,models]
                                  [--repeats 5] [--threads 1,2]

Runs `.build/release/convnet-bench <groups> <repeats>` (build it first with
`swift build -c release --product convnet-bench`) and then benchmarks/pytorch_bench.py with the
given Python, in the same invocation so that machine drift affects both, joins their result lines
on (workload, threads) and prints one table:

    workload, threads, ConvNet ms, PyTorch ms, PyTorch/ConvNet (> 1: ConvNet is faster),
    ConvNet and PyTorch GFLOP/s (kernel rows), peak resident memory in MB (model rows: VmHWM reset
    before each workload, so each column is the whole process's peak while doing that work)

followed by geometric means of the ratio per kind of workload and thread count.
The suites' own output is echoed to stderr while they run.

--convnet-output FILE / --pytorch-output FILE use a saved output instead of running that side.
"""

import argparse
import math
import os
import re
import subprocess
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_BENCH = os.path.join(ROOT, ".build", "release", "convnet-bench")
PYTORCH_BENCH = os.path.join(HERE, "pytorch_bench.py")
GROUPS = ("all", "kernels", "gemm", "conv", "pool", "models")

# "<name padded to 44> <threads> thr  <ms> ms[  <x> GFLOP/s|GB/s][  <y> img/s]"
ROW = re.compile(
    r"^(?P<name>.*?\S)\s+(?P<threads>\d+) thr\s+(?P<ms>\S+) ms"
    r"(?:\s+(?P<rate>\S+) (?P<unit>GFLOP/s|GB/s))?"
    r"(?:\s+(?P<images>\S+) img/s)?"
    r"(?:\s+(?P<mem>\S+) MB peak)?\s*$")

# (name prefix, kind) in display order; "conv fwd " (with the space) does not match "conv fwd+bwd".
KINDS = [("sgemm ", "sgemm"), ("conv fwd ", "conv fwd"), ("conv fwd+bwd ", "conv fwd+bwd"),
         ("maxpool ", "maxpool"), ("train step ", "train step"), ("inference ", "inference")]


def kind_of(name):
    for prefix, kind in KINDS:
        if name.startswith(prefix):
            return kind
    return "other"


def to_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def parse(lines):
    """(header lines, OrderedDict {(name, threads): {"ms", "rate", "unit", "images", "mem"}})."""
    headers, rows = [], OrderedDict()
    for line in lines:
        line = line.rstrip("\n")
        m = ROW.match(line)
        if not m:
            if line.strip():
                headers.append(line)
            continue
        rows[(m["name"], int(m["threads"]))] = {
            "ms": to_float(m["ms"]), "rate": to_float(m["rate"]), "unit": m["unit"], "images": to_float(m["images"]),
            "mem": to_float(m["mem"])}
    return headers, rows


def run_streaming(cmd, label, env=None):
    """Runs `cmd`, echoing its output to stderr as it comes; returns its stdout lines."""
    print(f"[{label}] $ {' '.join(cmd)}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
                                cwd=ROOT, env=env)
    except OSError as e:
        sys.exit(f"compare.py: cannot run {cmd[0]}: {e}")
    lines = []
    for line in proc.stdout:
        lines.append(line)
        print(f"[{label}] {line}", end="", file=sys.stderr, flush=True)
    if proc.wait() != 0:
        sys.exit(f"compare.py: {label} benchmark failed (exit status {proc.returncode}): {' '.join(cmd)}")
    return lines


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.readlines()


def fmt(value, spec, width, missing="—"):
    return format(value, spec).rjust(width) if value is not None else missing.rjust(width)


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="all",
                        help="comma-separated groups: all, kernels, gemm, conv, pool, models (default all)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per workload (default 5)")
    parser.add_argument("--threads", default="1,2",
                        help="thread counts for PyTorch's kernel and training rows, and the rows shown "
                             "(default 1,2; convnet-bench always runs 1 and 2)")
    parser.add_argument("--python", default="python3", help="Python with torch installed (default python3)")
    parser.add_argument("--convnet-bench", default=DEFAULT_BENCH, help="the convnet-bench executable")
    parser.add_argument("--convnet-output", metavar="FILE", help="use this saved convnet-bench output")
    parser.add_argument("--pytorch-output", metavar="FILE", help="use this saved pytorch_bench.py output")
    args = parser.parse_args(argv)

    if sys.stdout.encoding is None or sys.stdout.encoding.lower().replace("-", "") != "utf8":
        sys.stdout.reconfigure(encoding="utf-8")
    try:
        threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        sys.exit(f"compare.py: --threads expects comma-separated integers, got {args.threads!r}")
    groups = {g.strip() for g in args.only.split(",") if g.strip()}
    unknown = groups - set(GROUPS)
    if not groups or unknown:
        sys.exit(f"compare.py: unknown group(s) {sorted(unknown)} in --only; choose from {', '.join(GROUPS)}")
    repeats = max(1, args.repeats)

    # ConvNet first, then PyTorch (its inference rows at the thread count convnet-bench used).
    if args.convnet_output:
        convnet_lines = read_lines(args.convnet_output)
    else:
        if not os.access(args.convnet_bench, os.X_OK):
            sys.exit(f"compare.py: {args.convnet_bench} not found.\n"
                     f"Build it first, from {ROOT}:\n"
                     f"    swift build -c release --product convnet-bench")
        convnet_lines = run_streaming([args.convnet_bench, args.only, str(repeats)], "convnet")
    convnet_headers, convnet = parse(convnet_lines)

    if args.pytorch_output:
        pytorch_lines = read_lines(args.pytorch_output)
    else:
        cmd = [args.python, PYTORCH_BENCH, "--only", args.only, "--repeats", str(repeats), "--threads", args.threads]
        inference_threads = {t for (name, t) in convnet if name.startswith("inference ")}
        if len(inference_threads) == 1:
            cmd += ["--inference-threads", str(inference_threads.pop())]
        env = dict(os.environ, PYTHONIOENCODING="utf-8")
        pytorch_lines = run_streaming(cmd, "pytorch", env=env)
    pytorch_headers, pytorch = parse(pytorch_lines)

    # Join on (name, threads): ConvNet's order, then anything only PyTorch has.
    keys = [k for k in convnet] + [k for k in pytorch if k not in convnet]
    keys = [k for k in keys if k[1] in threads or k[0].startswith("inference ")]
    if not keys:
        sys.exit("compare.py: no benchmark rows to compare")

    width = max(44, max(len(name) for name, _ in keys))
    print()
    for h in convnet_headers + pytorch_headers:
        print(h)
    print()
    print("PT/CN = PyTorch ms / ConvNet ms: above 1, ConvNet is faster.")
    header = (f"{'workload':<{width}} {'thr':>3}  {'ConvNet ms':>11}  {'PyTorch ms':>11}  {'PT/CN':>6}  "
              f"{'CN GFLOP/s':>10}  {'PT GFLOP/s':>10}  {'CN MB':>6}  {'PT MB':>6}")
    print(header)
    print("-" * len(header))
    ratios = OrderedDict()
    for name, t in keys:
        c, p = convnet.get((name, t)), pytorch.get((name, t))
        c_ms, p_ms = c and c["ms"], p and p["ms"]
        ratio = p_ms / c_ms if c_ms and p_ms else None
        if ratio:
            ratios.setdefault((kind_of(name), t), []).append(ratio)
        c_rate = c["rate"] if c and c["unit"] == "GFLOP/s" else None
        p_rate = p["rate"] if p and p["unit"] == "GFLOP/s" else None
        c_mem, p_mem = c and c["mem"], p and p["mem"]
        print(f"{name:<{width}} {t:>3}  {fmt(c_ms, '.3f', 11)}  {fmt(p_ms, '.3f', 11)}  {fmt(ratio, '.2f', 6)}  "
              f"{fmt(c_rate, '.1f', 10, '')}  {fmt(p_rate, '.1f', 10, '')}  "
              f"{fmt(c_mem, '.0f', 6, '')}  {fmt(p_mem, '.0f', 6, '')}".rstrip())

    if ratios:
        print()
        print("Geometric mean of PyTorch ms / ConvNet ms (> 1: ConvNet is faster):")
        order = {kind: i for i, (_, kind) in enumerate(KINDS)}
        for (kind, t), values in sorted(ratios.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
            print(f"  {kind:<14} {t:>2} thr  {geometric_mean(values):6.2f}  ({len(values)} workloads)")
    missing = [k for k in keys if k not in convnet or k not in pytorch]
    if missing:
        print()
        print(f"{len(missing)} row(s) ran on one side only (shown with —).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
