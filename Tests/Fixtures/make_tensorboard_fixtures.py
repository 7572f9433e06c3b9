#!/usr/bin/env python3
"""PyTorch's TensorBoard histograms of a few value sets, for ConvNet's SummaryWriter tests.

Writes Tests/ConvNetTests/Resources/tensorboard/histograms.json: a list of cases, each
{"name", "values" (float32 values, written exactly as decimal floats), "min", "max", "num", "sum",
"sum_squares", "bucket_limit", "bucket"} where the histogram fields are what
torch.utils.tensorboard's SummaryWriter.add_histogram(tag, values) (bins="tensorflow", its
default) puts into the HistogramProto. torch.utils.tensorboard needs the tensorboard package: run
with both on the path, e.g. PYTHONPATH=<a folder with tensorboard and its deps> python3 this.py.
"""
import json, os
import numpy as np
import torch
from torch.utils.tensorboard.summary import histogram

def cases():
    g = torch.Generator().manual_seed(16)
    yield "normal", torch.randn(1000, generator=g) * 0.1
    yield "uniform_positive", torch.rand(300, generator=g) * 5
    yield "with_zeros", torch.tensor([0.0, 0.0, -1.5, 2.25, 1e-13, -1e-13, 0.0])
    yield "single", torch.tensor([0.5])
    yield "all_zero", torch.zeros(17)
    yield "wide", torch.tensor([-3e6, -1.0, 1e-6, 7.0, 4e9])
    # float32 values at and next to bucket edges (1e-12 * 1.1^k in double, then rounded)
    yield "edges", torch.tensor([1.0, 1.1, 1.21, -1.1, 0.11, 1e-12])

def main():
    root = os.path.join(os.path.dirname(__file__), "..", "ConvNetTests", "Resources", "tensorboard")
    os.makedirs(root, exist_ok=True)
    # the edges SummaryWriter.__init__ makes as `default_bins` (made here without a log folder)
    v, buckets, neg = 1e-12, [], []
    while v < 1e20:
        buckets.append(v); neg.append(-v); v *= 1.1
    edges = neg[::-1] + [0] + buckets
    out = []
    for name, t in cases():
        values = t.to(torch.float32).numpy()
        h = histogram(name, values, edges).value[0].histo
        out.append({"name": name, "values": [float(x) for x in values],
                    "min": h.min, "max": h.max, "num": h.num, "sum": h.sum, "sum_squares": h.sum_squares,
                    "bucket_limit": list(h.bucket_limit), "bucket": list(h.bucket)})
    with open(os.path.join(root, "histograms.json"), "w") as f:
        json.dump({"torch_version": torch.__version__, "cases": out}, f)
        f.write("\n")

if __name__ == "__main__":
    main()
