#!/usr/bin/env python3
"""The DenseNet results row, checked in PyTorch (issue 16): loads the weights `convnet train densenet`
saved into D2L's DenseNet (Tests/Fixtures/make_fixtures.py's flat layout, same state-dict keys), and
prints its Fashion-MNIST test accuracy with the running statistics training left, with batch
statistics on the test batches, and with the running statistics recomputed over 100 shuffled
training batches of 128 (as torch.optim.swa_utils.update_bn; ConvNet: `convnet evaluate densenet
--weights W --update-bn 100 --batch-size 128`). Needs torch and safetensors.

Usage: python scripts/densenet-update-bn-check.py runs/results/densenet/model.safetensors [FASHION_MNIST_DIR]"""
import gzip, importlib.util, os, sys
import numpy as np, torch, torch.nn.functional as F
from safetensors.torch import load_file

torch.set_num_threads(1)
here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("fixtures", os.path.join(here, "..", "Tests", "Fixtures", "make_fixtures.py"))
fixtures = importlib.util.module_from_spec(spec); spec.loader.exec_module(fixtures)

weights = sys.argv[1]
data = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
def idx(name, offset): return np.frombuffer(gzip.open(os.path.join(data, name)).read(), np.uint8, offset=offset)
test_x = torch.tensor(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)).float() / 255
test_y = torch.tensor(idx("t10k-labels-idx1-ubyte.gz", 8)).long()
train_x = torch.tensor(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)).float() / 255
def resize(x): return F.interpolate(x, size=(96, 96), mode="bilinear", align_corners=False, antialias=True)

model = fixtures.densenet()
state = load_file(weights)
model.load_state_dict(state, strict=True)
bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]

def accuracy(batch_statistics=False):
    model.eval()
    for bn in bns: bn.train(batch_statistics)
    correct = 0
    with torch.no_grad():
        for i in range(0, len(test_y), 250):
            correct += (model(resize(test_x[i:i + 250])).argmax(1) == test_y[i:i + 250]).sum().item()
    return correct / len(test_y)

print("running statistics from training    ", accuracy())
print("batch statistics on test batches    ", accuracy(batch_statistics=True))
model.load_state_dict(state, strict=True)
for bn in bns: bn.reset_running_stats(); bn.momentum = None
model.train()
order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    for i in range(0, 100 * 128, 128): model(resize(train_x[order[i:i + 128]]))
print("recomputed over 100 training batches", accuracy())
