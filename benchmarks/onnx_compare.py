#!/usr/bin/env python3
"""ConvNet against ONNX Runtime on the same .onnx files, in the same run, at the same thread count.

    python3 benchmarks/onnx_compare.py [--python ORT_PYTHON] [--torch-python TORCH_PYTHON]
                                       [--repeats 5] [--rounds 1] [--threads 2] [--dir DIR]

The files: `convnet-bench onnx-export` writes the zoo's LeNet (28x28), ResNet-18 (224x224) and
GoogLeNet (96x96), one input channel, as ConvNet exports them; with a PyTorch that has torchvision
(--torch-python, default /work/venv-torch/bin/python when present), Tests/Fixtures/
make_onnx_fixtures.py --large adds torchvision's resnet18 and mobilenet_v2 (3x224x224) as
torch.onnx.export writes them. Each row then runs `convnet-bench onnx FILE BATCH` (ONNXModel, compiled,
no gradient recording) and right after it ONNX Runtime (CPUExecutionProvider, intra-op threads =
--threads, inter-op 1, all graph optimisations) on the same file and batch: median of --repeats runs
after three warm-up calls each. The ratio is ORT ms / ConvNet ms (> 1: ConvNet is faster). With
--rounds N the two sides alternate N times per row (this machine's speed drifts by ±20% within
minutes, so one pair can land in different spells): the table gives each side's median over the
rounds, their ratio, and the lowest and highest ratio of a round.

Build first: swift build -c release --product convnet-bench
ORT_PYTHON needs onnxruntime and numpy (default: $CONVNET_PYTHON, else ~/.cache/convnet/venv, made
by scripts/setup-python).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH = os.path.join(ROOT, ".build", "release", "convnet-bench")
ROWS = [("lenet", 1), ("lenet", 256), ("resnet18", 1), ("resnet18", 32), ("googlenet", 64),
        ("tv_resnet18", 1), ("tv_resnet18", 32), ("tv_mobilenet_v2", 1)]
LABELS = {"lenet": "LeNet 28x28 (ConvNet export)", "resnet18": "ResNet-18 224x224 (ConvNet export)",
          "googlenet": "GoogLeNet 96x96 (ConvNet export)", "tv_resnet18": "torchvision resnet18 224x224 (PyTorch export)",
          "tv_mobilenet_v2": "torchvision mobilenet_v2 224x224 (PyTorch export)"}

ORT = r"""
import sys, time, numpy as np, onnxruntime as ort
path, batch, repeats, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
o = ort.SessionOptions()
o.intra_op_num_threads = threads
o.inter_op_num_threads = 1
o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
i = s.get_inputs()[0]
x = np.random.default_rng(0).standard_normal([batch] + list(i.shape[1:])).astype(np.float32)
for _ in range(3):
    s.run(None, {i.name: x})
times = []
for _ in range(repeats):
    t0 = time.perf_counter(); s.run(None, {i.name: x}); times.append(time.perf_counter() - t0)
times.sort()
print("%.6f" % (times[len(times) // 2] * 1000))
"""


def default_ort_python():
    for p in [os.environ.get("CONVNET_PYTHON"), os.path.expanduser("~/.cache/convnet/venv/bin/python")]:
        if p and os.access(p, os.X_OK):
            return p
    return sys.executable


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=default_ort_python())
    ap.add_argument("--torch-python", default="/work/venv-torch/bin/python" if os.path.exists("/work/venv-torch/bin/python") else None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1, help="ConvNet and ORT alternate this many times per row")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where the .onnx files go (default: a temporary folder)")
    ap.add_argument("--only", default=None, help="comma-separated model names of the rows to run")
    a = ap.parse_args()
    d = a.dir or tempfile.mkdtemp(prefix="convnet-onnx-bench-")
    os.makedirs(d, exist_ok=True)
    subprocess.run([BENCH, "onnx-export", d], check=True)
    rows = [r for r in ROWS if not a.only or r[0] in a.only.split(",")]
    missing = sorted({r[0] for r in rows if r[0].startswith("tv_") and not os.path.exists(os.path.join(d, r[0] + ".onnx"))})
    if missing:
        if a.torch_python and os.path.exists(a.torch_python):
            subprocess.run([a.torch_python, os.path.join(ROOT, "Tests", "Fixtures", "make_onnx_fixtures.py"), "--large", "--out", d,
                            "--only", ",".join(missing)], check=True, stdout=sys.stderr)
        else:
            print("no PyTorch (--torch-python): the torchvision rows are skipped", file=sys.stderr)
            rows = [r for r in rows if r[0] not in missing]
    cpu = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    out = []
    median = lambda v: sorted(v)[len(v) // 2]
    for name, batch in rows:
        path = os.path.join(d, name + ".onnx")
        cns, orts = [], []
        for _ in range(max(1, a.rounds)):
            cn = subprocess.run([BENCH, "onnx", path, str(batch), str(a.repeats), str(a.threads)], check=True,
                                capture_output=True, text=True).stdout
            cns.append(float(re.search(r"thr\s+(\S+) ms", cn).group(1)))
            orts.append(float(subprocess.run([a.python, "-c", ORT, path, str(batch), str(a.repeats), str(a.threads)], check=True,
                                             capture_output=True, text=True).stdout.strip()))
            print("%-50s b%-4d ConvNet %9.3f ms  ORT %9.3f ms  %.2fx" % (LABELS[name], batch, cns[-1], orts[-1], orts[-1] / cns[-1]),
                  file=sys.stderr, flush=True)
        ratios = [o / c for o, c in zip(orts, cns)]
        out.append((LABELS[name], batch, median(cns), median(orts), median(orts) / median(cns), min(ratios), max(ratios)))
    rounds = f", {a.rounds} alternating rounds (medians; a round's lowest and highest ratio)" if a.rounds > 1 else ""
    print(f"\nONNX Runtime vs ConvNet, {a.threads} threads, median of {a.repeats} runs{rounds}; load average at start: {' '.join(cpu)}\n")
    print("| model (same .onnx file) | batch | ConvNet ms | ORT ms | ORT/ConvNet |" + (" rounds |" if a.rounds > 1 else ""))
    print("|---|---|---|---|---|" + ("---|" if a.rounds > 1 else ""))
    for label, batch, cn_ms, ort_ms, ratio, lo, hi in out:
        spread = f" {lo:.2f}–{hi:.2f}x |" if a.rounds > 1 else ""
        print(f"| {label} | {batch} | {cn_ms:.3f} | {ort_ms:.3f} | {ratio:.2f}x |" + spread)


if __name__ == "__main__":
    main()
