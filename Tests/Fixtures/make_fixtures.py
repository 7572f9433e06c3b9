#!/usr/bin/env python3
"""Generate PyTorch reference fixtures for the ConvNet Swift test suite.

Each case is written to Tests/ConvNetTests/Resources/fixtures/<case>.safetensors
with safetensors.torch.save_file(tensors, path, metadata) semantics
(header JSON key-sorted so regeneration is byte-identical).

Layout of a module case (all float32 unless noted):
  <key>              the module's state_dict *before* the forward pass, with
                     PyTorch's own keys (num_batches_tracked stays int64, 0-dim)
  __input            input tensor (standard normal)
  __output           module(__input)
  __output_grad      standard normal tensor shaped like __output
  __input_grad       d/d input of (output * output_grad).sum()
  __grad.<key>       d/d parameter <key> of that same scalar
  __after.<key>      buffers (BatchNorm running stats, num_batches_tracked)
                     after the forward pass (unchanged in eval mode)
Metadata (strings): mode ("train"/"eval"), description (construction
expression), torch_version, plus case-specific notes.

ResNet-18 (one file, resnet18): D2L ResNet18(in_channels=1, num_classes=10)
built with seed 2001, then 3 train-mode forwards on randn(2, 1, 64, 64) under
no_grad (so the BatchNorm running stats are non-trivial); then
  <key>              the state dict at that point ("saved state")
  __input, __output, __output_grad, __input_grad, __grad*, __after.<key>
                     one train-mode forward/backward from the saved state, as
                     in the generic layout (metadata mode "train")
  __eval_output      eval-mode output: a fresh ResNet18 with the saved state
                     loaded (strict), .eval(), same __input
  __eval_input_grad  d/d input of (__eval_output * __output_grad).sum()
The 11.2M-parameter state dict alone is ~45 MB, so to keep the file under
50 MB, __grad.<key> is stored in full only for parameters with at most
RESNET_FULL_GRAD_MAX_NUMEL elements. For the larger ones (the 3x3 convs of
stages b4 and b5) the file holds instead
  __grad_head.<key>   grad[:2] (first two output channels, exact values)
  __grad_stats.<key>  float32 [sum, sum of squares, sum of |g|] (float64 math)
and metadata "grad_partial_keys" lists them. Run with --full-resnet-grads to
store every gradient in full (~90 MB file).

Optimizer cases (sgd_steps, sgd_nesterov_steps, adam_steps, adamw_steps):
  weight, bias, __input, __output_grad, __step{1,2,3}.{weight,bias}
for loss = (model(__input) * __output_grad).sum().

Usage:  python Tests/Fixtures/make_fixtures.py [--out DIR] [--full-resnet-grads]
"""

import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(
    os.path.join(HERE, "..", "ConvNetTests", "Resources", "fixtures"))

RESNET_FULL_GRAD_MAX_NUMEL = 300_000

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float32)


def t(x):
    """Detached, contiguous, owned copy (safetensors refuses shared storage)."""
    return x.detach().clone().contiguous()


def write(out_dir, name, tensors, metadata):
    meta = {"torch_version": torch.__version__}
    meta.update({k: str(v) for k, v in metadata.items()})
    for k, v in tensors.items():
        assert v.dtype in (torch.float32, torch.int64), (name, k, v.dtype)
    path = os.path.join(out_dir, name + ".safetensors")
    # Same bytes as safetensors.torch.save_file, except that the JSON header is
    # re-serialized with sorted keys: safetensors emits __metadata__ in hash
    # order, which would make every regeneration differ byte-wise.
    blob = save({k: t(v) for k, v in tensors.items()}, metadata=meta)
    n = int.from_bytes(blob[:8], "little")
    header = json.dumps(json.loads(blob[8:8 + n]), sort_keys=True,
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header + blob[8 + n:])
    return path


# --------------------------------------------------------------------------
# Generic module case
# --------------------------------------------------------------------------

def add_param_grads(tensors, module, name, full_grad_max_numel=None):
    """Store __grad.<key> (or __grad_head/__grad_stats for parameters with more
    than full_grad_max_numel elements); returns the list of partial keys."""
    partial = []
    for k, p in module.named_parameters():
        assert p.grad is not None, (name, k)
        if full_grad_max_numel is not None and p.numel() > full_grad_max_numel:
            partial.append(k)
            tensors["__grad_head." + k] = p.grad[:2]
            gd = p.grad.double()
            tensors["__grad_stats." + k] = torch.stack(
                [gd.sum(), (gd * gd).sum(), gd.abs().sum()]).float()
        else:
            tensors["__grad." + k] = p.grad
    return partial

def module_case(out_dir, name, build, input_shape, mode="train", seed=0,
                description="", full_grad_max_numel=None, extra_meta=None):
    torch.manual_seed(seed)
    module = build()
    module.train(mode == "train")

    before = {k: t(v) for k, v in module.state_dict().items()}
    x = torch.randn(*input_shape).requires_grad_(True)
    y = module(x)
    g = torch.randn_like(y)
    y.backward(g)

    tensors = dict(before)
    tensors["__input"] = x
    tensors["__output"] = y
    tensors["__output_grad"] = g
    tensors["__input_grad"] = x.grad

    partial = add_param_grads(tensors, module, name, full_grad_max_numel)

    buffer_keys = [k for k, _ in module.named_buffers()]
    after = module.state_dict()
    for k in buffer_keys:
        tensors["__after." + k] = after[k]

    meta = {"mode": mode, "description": description}
    if partial:
        meta["grad_partial_keys"] = ",".join(partial)
    if extra_meta:
        meta.update(extra_meta)
    return write(out_dir, name, tensors, meta)


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(256, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, 256)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def lenet_d2l():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


class Residual(nn.Module):
    def __init__(self, in_c, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, num_channels, kernel_size=3, padding=1,
                               stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3,
                               padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(in_c, num_channels, kernel_size=1,
                                   stride=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3 is not None:
            X = self.conv3(X)
        return F.relu(Y + X)


class ResNet18(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.net = nn.Sequential()
        self.net.add_module("b1", nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
            nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
        prev_c = 64
        for i, (n, c) in enumerate([(2, 64), (2, 128), (2, 256), (2, 512)]):
            blocks = []
            for j in range(n):
                if j == 0 and i != 0:
                    blocks.append(Residual(prev_c, c, use_1x1conv=True,
                                           strides=2))
                else:
                    blocks.append(Residual(c, c))
            self.net.add_module(f"b{i + 2}", nn.Sequential(*blocks))
            prev_c = c
        self.net.add_module("last", nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
            nn.Linear(512, num_classes)))

    def forward(self, x):
        return self.net(x)


RESNET_INPUT_SHAPE = (2, 1, 64, 64)


def resnet18_case(out_dir, name, seed, description, full_grad_max_numel=None):
    """One file covering ResNet18 in train and in eval mode.

    Build ResNet18 (seed), run 3 train-mode forwards on random batches under
    no_grad so the BatchNorm running stats are non-trivial, save the state
    dict, then one train-mode forward/backward (__output, __input_grad,
    __grad*, __after.*). Eval: a fresh ResNet18 with the SAVED state dict
    loaded (strict), .eval(), the same __input and __output_grad
    (__eval_output, __eval_input_grad)."""
    torch.manual_seed(seed)
    model = ResNet18()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(*RESNET_INPUT_SHAPE))
    saved = {k: t(v) for k, v in model.state_dict().items()}

    # Train mode (continues from the saved state; BN uses batch statistics
    # and updates the running stats).
    x = torch.randn(*RESNET_INPUT_SHAPE).requires_grad_(True)
    y = model(x)
    g = torch.randn_like(y)
    y.backward(g)

    tensors = dict(saved)
    tensors["__input"] = x
    tensors["__output"] = y
    tensors["__output_grad"] = g
    tensors["__input_grad"] = x.grad
    partial = add_param_grads(tensors, model, name, full_grad_max_numel)
    after = model.state_dict()
    for k, _ in model.named_buffers():
        tensors["__after." + k] = after[k]

    # Eval mode, from the saved state (running stats as before the train
    # forward above), same input and output gradient.
    model_eval = ResNet18()
    model_eval.load_state_dict(saved, strict=True)
    model_eval.eval()
    xe = t(x).requires_grad_(True)
    ye = model_eval(xe)
    ye.backward(g)
    tensors["__eval_output"] = ye
    tensors["__eval_input_grad"] = xe.grad

    # mode describes the top-level keys (__output, __input_grad, ...), which
    # follow the generic train-mode layout; __eval_* are eval mode.
    meta = {"mode": "train", "description": description}
    if partial:
        meta["grad_partial_keys"] = ",".join(partial)
    return write(out_dir, name, tensors, meta)


# --------------------------------------------------------------------------
# DenseNet, trained for a few SGD steps (the results table's DenseNet row)
# --------------------------------------------------------------------------

def densenet_conv_block(in_c, num_channels):
    return nn.Sequential(nn.BatchNorm2d(in_c), nn.ReLU(), nn.Conv2d(in_c, num_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    """D2L 8.7's DenseBlock (eager channel counts instead of Lazy modules)."""
    def __init__(self, num_convs, in_c, num_channels):
        super().__init__()
        self.net = nn.Sequential(*[densenet_conv_block(in_c + i * num_channels, num_channels)
                                   for i in range(num_convs)])

    def forward(self, X):
        for blk in self.net:
            Y = blk(X)
            X = torch.cat((X, Y), dim=1)
        return X


def densenet(num_channels=64, growth_rate=32, arch=(4, 4, 4, 4), num_classes=10):
    """D2L 8.7's DenseNet with its parts in one flat Sequential (ConvNet's Models.denseNet keys):
    b1, then each dense block and transition block, then BN, ReLU, pooling, Flatten, Linear.
    Initialised as D2L's init_cnn does (Xavier-uniform for Conv2d and Linear weights)."""
    layers = [nn.Sequential(nn.Conv2d(1, num_channels, kernel_size=7, stride=2, padding=3),
                            nn.BatchNorm2d(num_channels), nn.ReLU(),
                            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
    c = num_channels
    for i, num_convs in enumerate(arch):
        layers.append(DenseBlock(num_convs, c, growth_rate))
        c += num_convs * growth_rate
        if i != len(arch) - 1:
            layers.append(nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, kernel_size=1),
                                        nn.AvgPool2d(kernel_size=2, stride=2)))
            c //= 2
    layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(c, num_classes)]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
    return model


def densenet_training_case(out_dir, name, seed, steps=2, batch=8, size=64, lr=0.01):
    """D2L's DenseNet trained for `steps` SGD steps (lr, cross-entropy, train mode), as the trainer does.
    lr is D2L's 0.01 for DenseNet. Two steps, because on random images the third is chaotic: scaling
    the initial weights by 1 + 1e-6·randn moves the stem's weights after three steps by 5e-4, so
    float32 rounding in any other summation order does too.
      <key>                the state dict before training
      __step{i}.input      randn(batch, 1, size, size);  __step{i}.labels  int64 (batch)
      __step{i}.loss       the loss of step i, before its update
      __grad.<key>         every parameter's gradient in step 1
      __after.<key>        every parameter and buffer after the last step
      __eval_input         randn(4, 1, size, size);  __eval_output  the trained model's eval-mode logits"""
    torch.manual_seed(seed)
    model = densenet()
    model.train()
    tensors = {k: t(v) for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for i in range(1, steps + 1):
        x = torch.randn(batch, 1, size, size)
        labels = torch.randint(0, 10, (batch,))
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        if i == 1:
            for k, p in model.named_parameters():
                tensors["__grad." + k] = p.grad
        opt.step()
        tensors[f"__step{i}.input"] = x
        tensors[f"__step{i}.labels"] = labels
        tensors[f"__step{i}.loss"] = loss.reshape(1)
    for k, v in model.state_dict().items():
        tensors["__after." + k] = v
    model.eval()
    with torch.no_grad():
        xe = torch.randn(4, 1, size, size)
        tensors["__eval_input"] = xe
        tensors["__eval_output"] = model(xe)
    meta = {"mode": "train", "description": f"D2L DenseNet (flat Sequential), seed {seed}; {steps} steps of "
            f"torch.optim.SGD(lr={lr}) on F.cross_entropy, batch {batch} of randn(1, {size}, {size})"}
    return write(out_dir, name, tensors, meta)


# --------------------------------------------------------------------------
# Special cases
# --------------------------------------------------------------------------

def bn_random_affine(bn):
    with torch.no_grad():
        bn.weight.copy_(torch.randn_like(bn.weight))
        bn.bias.copy_(torch.randn_like(bn.bias))
    return bn


def bn_eval_init():
    bn = bn_random_affine(nn.BatchNorm2d(3))
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(3))
        bn.running_var.copy_(torch.rand(3) + 0.5)
    return bn


def activations_case(out_dir, seed):
    torch.manual_seed(seed)
    x0 = torch.randn(3, 5)
    g = torch.randn(3, 5)
    tensors = {"__input": x0, "__output_grad": g}
    fns = {
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax1": lambda x: torch.softmax(x, dim=1),
        "log_softmax1": lambda x: torch.log_softmax(x, dim=1),
    }
    for name, fn in fns.items():
        x = x0.clone().requires_grad_(True)
        y = fn(x)
        y.backward(g)
        tensors["__" + name] = y
        tensors["__grad_" + name] = x.grad
    return write(out_dir, "activations", tensors, {
        "mode": "train",
        "description": "relu, sigmoid, tanh, softmax(dim=1), log_softmax(dim=1); "
                       "__grad_<f> = d/dx (f(x) * __output_grad).sum()"})


def cross_entropy_case(out_dir, seed):
    torch.manual_seed(seed)
    logits = torch.randn(6, 10)
    labels = torch.randint(0, 10, (6,), dtype=torch.int64)
    tensors = {"__input": logits, "__labels": labels}
    for suffix, ls in (("", 0.0), ("_smooth", 0.1)):
        x = logits.clone().requires_grad_(True)
        loss = F.cross_entropy(x, labels, label_smoothing=ls)
        loss.backward()
        tensors["__loss" + suffix] = loss  # 0-dim
        tensors["__input_grad" + suffix] = x.grad
    return write(out_dir, "cross_entropy", tensors, {
        "mode": "train",
        "description": "nn.CrossEntropyLoss() (reduction='mean'); "
                       "_smooth: nn.CrossEntropyLoss(label_smoothing=0.1)"})


def optimizer_case(out_dir, name, make_opt, description, seed):
    torch.manual_seed(seed)
    model = nn.Linear(4, 3)
    x = torch.randn(5, 4)
    g = torch.randn(5, 3)
    tensors = {k: t(v) for k, v in model.state_dict().items()}
    tensors["__input"] = x
    tensors["__output_grad"] = g
    opt = make_opt(model.parameters())
    for step in range(1, 4):
        opt.zero_grad()
        loss = (model(x) * g).sum()
        loss.backward()
        opt.step()
        for k, v in model.state_dict().items():
            tensors[f"__step{step}.{k}"] = t(v)
    return write(out_dir, name, tensors, {
        "mode": "train",
        "description": "nn.Linear(4, 3); " + description +
                       "; loss = (model(__input) * __output_grad).sum(); 3 steps"})


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", help="write only this case (densenet_training)")
    ap.add_argument("--full-resnet-grads", action="store_true",
                    help="store every ResNet-18 gradient in full (~90 MB file)")
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    resnet_limit = None if args.full_resnet_grads else RESNET_FULL_GRAD_MAX_NUMEL
    if args.only == "densenet_training":
        path = densenet_training_case(out, "densenet_training", 5001)
        print(f"{os.path.getsize(path):>11,d}  {os.path.relpath(path)}")
        return 0

    # (name, builder, input shape, mode, description)
    modules = [
        ("conv_basic", lambda: nn.Conv2d(3, 4, 3), (2, 3, 7, 7), "train",
         "nn.Conv2d(3, 4, 3)"),
        ("conv_stride_pad",
         lambda: nn.Conv2d(3, 5, (3, 5), stride=(2, 1), padding=(1, 2)),
         (2, 3, 9, 8), "train",
         "nn.Conv2d(3, 5, (3, 5), stride=(2, 1), padding=(1, 2))"),
        ("conv_dilation", lambda: nn.Conv2d(2, 3, 3, padding=2, dilation=2),
         (1, 2, 8, 8), "train", "nn.Conv2d(2, 3, 3, padding=2, dilation=2)"),
        ("conv_groups",
         lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False),
         (2, 4, 6, 6), "train",
         "nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False)"),
        ("conv_depthwise",
         lambda: nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4),
         (2, 4, 7, 7), "train",
         "nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4)"),
        ("linear", lambda: nn.Linear(7, 5), (3, 7), "train", "nn.Linear(7, 5)"),
        ("maxpool", lambda: nn.MaxPool2d(3, stride=2, padding=1),
         (2, 3, 9, 9), "train", "nn.MaxPool2d(3, stride=2, padding=1)"),
        ("maxpool_ceil", lambda: nn.MaxPool2d(2, stride=2, ceil_mode=True),
         (1, 2, 7, 7), "train", "nn.MaxPool2d(2, stride=2, ceil_mode=True)"),
        ("avgpool", lambda: nn.AvgPool2d(3, stride=2, padding=1),
         (2, 2, 8, 8), "train",
         "nn.AvgPool2d(3, stride=2, padding=1)  # count_include_pad=True"),
        ("avgpool_nopad_count",
         lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
         (2, 2, 8, 8), "train",
         "nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)"),
        ("adaptive_avgpool", lambda: nn.AdaptiveAvgPool2d((3, 2)),
         (2, 3, 7, 5), "train", "nn.AdaptiveAvgPool2d((3, 2))"),
        ("batchnorm2d_train", lambda: bn_random_affine(nn.BatchNorm2d(3)),
         (4, 3, 5, 5), "train",
         "nn.BatchNorm2d(3); weight, bias = randn(3), randn(3)"),
        ("batchnorm2d_eval", bn_eval_init, (4, 3, 5, 5), "eval",
         "nn.BatchNorm2d(3); weight, bias = randn(3), randn(3); "
         "running_mean = randn(3); running_var = rand(3) + 0.5; .eval()"),
        ("batchnorm1d_train", lambda: bn_random_affine(nn.BatchNorm1d(6)),
         (8, 6), "train",
         "nn.BatchNorm1d(6); weight, bias = randn(6), randn(6)"),
        ("dropout_eval", lambda: nn.Dropout(0.5), (3, 4), "eval",
         "nn.Dropout(0.5).eval()"),
        ("lenet_homework", LeNet, (4, 1, 28, 28), "train",
         "LeNet(): conv1=Conv2d(1,6,5), conv2=Conv2d(6,16,5), fc1=Linear(256,120), "
         "fc2=Linear(120,84), fc3=Linear(84,10); x=max_pool2d(relu(conv1(x)),2); "
         "x=max_pool2d(relu(conv2(x)),2); x=x.view(-1,256); relu(fc1); relu(fc2); fc3"),
        ("lenet_d2l", lenet_d2l, (4, 1, 28, 28), "train",
         "nn.Sequential(Conv2d(1,6,5,padding=2), Sigmoid(), AvgPool2d(2,2), "
         "Conv2d(6,16,5), Sigmoid(), AvgPool2d(2,2), Flatten(), Linear(400,120), "
         "Sigmoid(), Linear(120,84), Sigmoid(), Linear(84,10))"),
    ]

    paths = []
    seed = 1000
    for name, build, shape, mode, desc in modules:
        seed += 1
        paths.append(module_case(out, name, build, shape, mode, seed, desc))

    resnet_desc = ("D2L ResNet18(in_channels=1, num_classes=10): net = Sequential("
                   "b1=[Conv2d(1,64,7,s2,p3), BatchNorm2d(64), ReLU(), MaxPool2d(3,s2,p1)], "
                   "b2..b5=2x Residual each (64,128,256,512; first of b3..b5 uses "
                   "1x1 conv3 stride 2), last=[AdaptiveAvgPool2d((1,1)), Flatten(), "
                   "Linear(512,10)])")
    paths.append(resnet18_case(
        out, "resnet18", 2001,
        resnet_desc + "; 3 train-mode forwards on randn(2,1,64,64) under "
        "no_grad, then state dict saved; __output etc.: train mode from the "
        "saved state; __eval_*: saved state loaded (strict), .eval()",
        full_grad_max_numel=resnet_limit))

    paths.append(activations_case(out, 3001))
    paths.append(cross_entropy_case(out, 3002))

    opt_cases = [
        ("sgd_steps",
         lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01,
                                   nesterov=False),
         "torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=False)"),
        ("sgd_nesterov_steps",
         lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0,
                                   weight_decay=0.01, nesterov=True),
         "torch.optim.SGD(lr=0.1, momentum=0.9, dampening=0, weight_decay=0.01, "
         "nesterov=True)"),
        ("adam_steps",
         lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.0),
         "torch.optim.Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)"),
        ("adamw_steps",
         lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
         "torch.optim.AdamW(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)"),
    ]
    seed = 4000
    for name, make_opt, desc in opt_cases:
        seed += 1
        paths.append(optimizer_case(out, name, make_opt, desc, seed))

    paths.append(densenet_training_case(out, "densenet_training", 5001))

    # Sanity: every file loads back.
    for p in paths:
        load_file(p)
        print(f"{os.path.getsize(p):>11,d}  {os.path.relpath(p)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
