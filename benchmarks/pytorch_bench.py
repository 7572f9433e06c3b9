#!/usr/bin/env python3
"""The ConvNet benchmark suite's workloads, run in PyTorch.

Mirrors Sources/ConvNet/Benchmark/BenchmarkSuite.swift (`convnet-bench`): the same kernels
(sgemm, conv2d forward and forward+backward, 2x2 max pooling) and the same model zoo
(Sources/ConvNetNN/Models/*.swift: 1 input channel, 10 classes) at the same batch sizes and
input sides, timed the same way (one warm-up, then the median of `repeats` runs; half the
repeats for training steps at side >= 96; 20x the repeats for batch-1 inference).

Every result line has the Swift suite's exact format and workload names, so the two outputs
can be joined on (name, threads) -- see compare.py:

    <name padded to 44> <threads, 2 wide> thr  <ms, %9.3f> ms[  <%7.1f> GFLOP/s|GB/s][  <%9.0f> img/s][  <%6.0f> MB peak]

Usage:
    python benchmarks/pytorch_bench.py [--threads 1,2] [--only kernels,models] [--repeats 5]
    python benchmarks/pytorch_bench.py --params      # parameter counts of the PyTorch models

Groups (--only, comma-separated, like convnet-bench's first argument): all, kernels (= gemm,
conv, pool), gemm, conv, pool, models.

Like the Swift suite, inference rows run at one thread count only: the Swift suite's default,
i.e. $CONVNET_NUM_THREADS if set, otherwise every core (override with --inference-threads).
"""

import argparse
import math
import os
import sys
import time
from collections import OrderedDict

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit(f"pytorch_bench.py: PyTorch is not installed for {sys.executable}; "
             "install it (pip install torch) or run this script with a Python that has it")

GROUPS = ("all", "kernels", "gemm", "conv", "pool", "models")

# (name, N, C, H, W, Cout, k, pad, stride) -- BenchmarkSuite.convWorkloads
CONV_WORKLOADS = [
    ("LeNet conv1 256×1×28² → 6, 5×5 p2", 256, 1, 28, 28, 6, 5, 2, 1),
    ("LeNet conv2 256×6×14² → 16, 5×5", 256, 6, 14, 14, 16, 5, 0, 1),
    ("ResNet 64×64×56² → 64, 3×3 p1", 64, 64, 56, 56, 64, 3, 1, 1),
    ("stem 32×3×224² → 64, 7×7/2 p3", 32, 3, 224, 224, 64, 7, 3, 2),
    ("ResNet 64×128×28² → 128, 3×3 p1", 64, 128, 28, 28, 128, 3, 1, 1),
    ("ResNet-18/96 b2 64×64×24² → 64, 3×3 p1", 64, 64, 24, 24, 64, 3, 1, 1),
    ("ResNet-18/96 b3 64×128×12² → 128, 3×3 p1", 64, 128, 12, 12, 128, 3, 1, 1),
    ("ResNet-18/96 b4 64×256×6² → 256, 3×3 p1", 64, 256, 6, 6, 256, 3, 1, 1),
    ("ResNet-18/96 b5 64×512×3² → 512, 3×3 p1", 64, 512, 3, 3, 512, 3, 1, 1),
    ("ResNet-18/96 b3 down 64×64×24² → 128, 3×3/2 p1", 64, 64, 24, 24, 128, 3, 1, 2),
]

# (N, C, H) of the max-pooling rows -- BenchmarkSuite.pool()
POOL_WORKLOADS = [(256, 6, 28), (64, 64, 112)]

# (model, batch, side) of the training-step rows -- BenchmarkSuite.models()
MODEL_CASES = [
    ("lenet", 256, 28), ("bn-lenet", 256, 28), ("alexnet", 32, 224), ("vgg11", 32, 224),
    ("nin", 32, 224), ("googlenet", 64, 96), ("resnet18", 64, 96), ("densenet", 64, 96),
    ("regnetx32", 64, 96),
]


def inference_batches(name):
    if name == "lenet":
        return [1, 64, 256]
    if name == "resnet18":
        return [1, 64]
    return [64]


# --------------------------------------------------------------------------------------------
# Output (BenchmarkSuite.row and the pool rows)
# --------------------------------------------------------------------------------------------

def row(name, threads, seconds, flops=None, images=None, peak_bytes=None):
    s = "%-44s %2d thr  %9.3f ms" % (name, threads, seconds * 1000)
    if flops is not None:
        s += "  %7.1f GFLOP/s" % (flops / seconds / 1e9)
    if images is not None:
        s += "  %9.0f img/s" % (images / seconds)
    if peak_bytes is not None:
        s += "  %6.0f MB peak" % (peak_bytes / 1e6)
    print(s, flush=True)


def reset_peak_memory():
    """Resets the process's resident high-water mark (Linux VmHWM), as ProcessMemory.resetPeak() does."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_bytes():
    """VmHWM of /proc/self/status in bytes, or None where /proc is not available."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def pool_row(name, threads, seconds, gigabytes):
    print("%-44s %2d thr  %9.3f ms  %7.1f GB/s" % (name, threads, seconds * 1000, gigabytes / seconds),
          flush=True)


def median_seconds(repeats, body):
    """Median wall time of `body` over `repeats` runs after one warm-up (BenchmarkSuite.medianSeconds)."""
    body()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        body()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


# --------------------------------------------------------------------------------------------
# Models (Sources/ConvNetNN/Models/*.swift), with the same child names as the Swift modules
# --------------------------------------------------------------------------------------------

class LeNet(nn.Module):
    """The homework's LeNet: ReLU and max pooling, 5x5 convolutions without padding."""

    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, 16 * 4 * 4)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def lenet_d2l(in_channels=1, num_classes=10):
    """D2L 7.6's LeNet-5: sigmoid activations and average pooling."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes))


def bn_lenet(in_channels=1, num_classes=10):
    """D2L 8.5's LeNet with batch normalisation after every convolution and hidden linear layer."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, num_classes))


def alexnet(in_channels=1, num_classes=10):
    """D2L 8.1's AlexNet for 224x224 input."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, num_classes))


VGG11_ARCHITECTURE = [(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)]


def vgg_block(num_convs, in_channels, out_channels):
    layers = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(architecture=VGG11_ARCHITECTURE, channel_ratio=1, in_channels=1, num_classes=10, input_size=224):
    """D2L 8.2's VGG; `channel_ratio` divides every width (D2L trains VGG-11 with 4)."""
    blocks = []
    c = in_channels
    for n, width in architecture:
        blocks.append(vgg_block(n, c, width // channel_ratio))
        c = width // channel_ratio
    side = input_size >> len(architecture)
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Linear(c * side * side, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, num_classes))


def nin_block(in_channels, out_channels, kernel_size, stride, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin(in_channels=1, num_classes=10):
    """D2L 8.3's Network in Network for 224x224 input."""
    return nn.Sequential(
        nin_block(in_channels, 96, kernel_size=11, stride=4, padding=0),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nin_block(96, 256, kernel_size=5, stride=1, padding=2),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nin_block(256, 384, kernel_size=3, stride=1, padding=1),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Dropout(p=0.5),
        nin_block(384, num_classes, kernel_size=3, stride=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())


class Inception(nn.Module):
    """D2L 8.4's Inception block: four parallel paths concatenated on channels."""

    def __init__(self, in_channels, c1, c2, c3, c4):
        super().__init__()
        self.b1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.b2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.b2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.b3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.b3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.b4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.b4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.b1_1(x))
        p2 = F.relu(self.b2_2(F.relu(self.b2_1(x))))
        p3 = F.relu(self.b3_2(F.relu(self.b3_1(x))))
        p4 = F.relu(self.b4_2(self.b4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


def googlenet(in_channels=1, num_classes=10):
    """D2L 8.4's GoogLeNet for 96x96 input."""
    b1 = nn.Sequential(nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(nn.Conv2d(64, 64, kernel_size=1), nn.ReLU(),
                       nn.Conv2d(64, 192, kernel_size=3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b3 = nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32),
                       Inception(256, 128, (128, 192), (32, 96), 64),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b4 = nn.Sequential(Inception(480, 192, (96, 208), (16, 48), 64),
                       Inception(512, 160, (112, 224), (24, 64), 64),
                       Inception(512, 128, (128, 256), (24, 64), 64),
                       Inception(512, 112, (144, 288), (32, 64), 64),
                       Inception(528, 256, (160, 320), (32, 128), 128),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b5 = nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128),
                       Inception(832, 384, (192, 384), (48, 128), 128),
                       nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, num_classes))


class Residual(nn.Module):
    """D2L 8.6's residual block."""

    def __init__(self, in_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, num_channels, kernel_size=3, stride=strides, padding=1)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(in_channels, num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = self.conv3(x) if self.conv3 is not None else x
        return F.relu(y + shortcut)


class ResNeXtBlock(nn.Module):
    """D2L 8.6.5's ResNeXt block; `groups` is the width of each group, as D2L passes it."""

    def __init__(self, in_channels, num_channels, groups, bot_mul, use_1x1conv=False, strides=1):
        super().__init__()
        bot = int(math.floor(num_channels * bot_mul + 0.5))  # Swift's .rounded(): half away from zero
        self.conv1 = nn.Conv2d(in_channels, bot, kernel_size=1)
        self.conv2 = nn.Conv2d(bot, bot, kernel_size=3, stride=strides, padding=1, groups=bot // groups)
        self.conv3 = nn.Conv2d(bot, num_channels, kernel_size=1)
        self.bn1 = nn.BatchNorm2d(bot)
        self.bn2 = nn.BatchNorm2d(bot)
        self.bn3 = nn.BatchNorm2d(num_channels)
        if use_1x1conv:
            self.conv4 = nn.Conv2d(in_channels, num_channels, kernel_size=1, stride=strides)
            self.bn4 = nn.BatchNorm2d(num_channels)
        else:
            self.conv4 = None
            self.bn4 = None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        shortcut = self.bn4(self.conv4(x)) if self.conv4 is not None else x
        return F.relu(y + shortcut)


RESNET18_ARCHITECTURE = [(2, 64), (2, 128), (2, 256), (2, 512)]
RESNET34_ARCHITECTURE = [(3, 64), (4, 128), (6, 256), (3, 512)]


class ResNet(nn.Module):
    """D2L's ResNet: one `net` Sequential with stages b1, b2, ..., last."""

    def __init__(self, architecture, in_channels=1, num_classes=10):
        super().__init__()
        stages = [("b1", nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))]
        c = 64
        for i, (num_residuals, channels) in enumerate(architecture):
            blocks = []
            for j in range(num_residuals):
                if j == 0 and i != 0:
                    blocks.append(Residual(c, channels, use_1x1conv=True, strides=2))
                else:
                    blocks.append(Residual(c, channels))
                c = channels
            stages.append((f"b{i + 2}", nn.Sequential(*blocks)))
        stages.append(("last", nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(c, num_classes))))
        self.net = nn.Sequential(OrderedDict(stages))

    def forward(self, x):
        return self.net(x)


class DenseBlock(nn.Module):
    """D2L 8.7's dense block: each convolution block's output is concatenated onto its input."""

    def __init__(self, num_convs, in_channels, growth_rate):
        super().__init__()
        self.net = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(in_channels + i * growth_rate), nn.ReLU(),
                          nn.Conv2d(in_channels + i * growth_rate, growth_rate, kernel_size=3, padding=1))
            for i in range(num_convs))
        self.out_channels = in_channels + num_convs * growth_rate

    def forward(self, x):
        for block in self.net:
            x = torch.cat((x, block(x)), dim=1)
        return x


def transition_block(in_channels, out_channels):
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, kernel_size=1),
                         nn.AvgPool2d(kernel_size=2, stride=2))


def densenet(num_channels=64, growth_rate=32, architecture=(4, 4, 4, 4), in_channels=1, num_classes=10):
    """D2L 8.7's DenseNet for 96x96 input."""
    layers = [nn.Sequential(
        nn.Conv2d(in_channels, num_channels, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(num_channels),
        nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
    c = num_channels
    for i, num_convs in enumerate(architecture):
        block = DenseBlock(num_convs, c, growth_rate)
        layers.append(block)
        c = block.out_channels
        if i != len(architecture) - 1:
            layers.append(transition_block(c, c // 2))
            c //= 2
    layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


def any_net(stem_channels, stages, in_channels=1, num_classes=10):
    """D2L 8.8's AnyNet: stem, stages of (depth, channels, group width, bottleneck ratio), head."""
    layers = [nn.Sequential(nn.Conv2d(in_channels, stem_channels, kernel_size=3, stride=2, padding=1),
                            nn.BatchNorm2d(stem_channels), nn.ReLU())]
    c = stem_channels
    for depth, channels, groups, bot in stages:
        blocks = []
        for i in range(depth):
            blocks.append(ResNeXtBlock(c, channels, groups, bot, use_1x1conv=(i == 0), strides=2 if i == 0 else 1))
            c = channels
        layers.append(nn.Sequential(*blocks))
    layers.append(nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(c, num_classes)))
    return nn.Sequential(*layers)


def regnetx32(in_channels=1, num_classes=10):
    """D2L 8.8's RegNetX-32: depths 4 and 6, widths 32 and 80, group width 16, bottleneck ratio 1."""
    return any_net(32, [(4, 32, 16, 1.0), (6, 80, 16, 1.0)], in_channels=in_channels, num_classes=num_classes)


# name -> (constructor, Xavier-uniform init as in the zoo's ModelSpec.make / D2L's init_cnn)
ZOO = OrderedDict([
    ("lenet", (LeNet, False)),
    ("lenet-d2l", (lenet_d2l, True)),
    ("bn-lenet", (bn_lenet, True)),
    ("alexnet", (alexnet, True)),
    ("vgg11", (lambda: vgg(channel_ratio=4), True)),
    ("nin", (nin, True)),
    ("googlenet", (googlenet, True)),
    ("resnet18", (lambda: ResNet(RESNET18_ARCHITECTURE), True)),
    ("resnet34", (lambda: ResNet(RESNET34_ARCHITECTURE), True)),
    ("densenet", (densenet, True)),
    ("regnetx32", (regnetx32, True)),
])


def make_model(name):
    build, xavier = ZOO[name]
    model = build()
    if xavier:
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return model


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------

def bench_gemm(threads_list, repeats):
    for n in (256, 512, 1024, 2048):
        a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        for threads in threads_list:
            torch.set_num_threads(threads)
            t = median_seconds(repeats, lambda: torch.mm(a, b, out=c))
            row(f"sgemm {n}", threads, t, flops=2.0 * n * n * n)


def bench_conv(threads_list, repeats):
    for name, n, c, h, w, co, k, p, s in CONV_WORKLOADS:
        x = torch.randn(n, c, h, w)
        wt = torch.randn(co, c, k, k) * 0.1
        b = torch.zeros(co)
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        flops = 2.0 * n * co * ho * wo * c * k * k

        def forward():
            with torch.no_grad():
                F.conv2d(x, wt, b, stride=s, padding=p)

        for threads in threads_list:
            torch.set_num_threads(threads)
            row("conv fwd " + name, threads, median_seconds(repeats, forward), flops=flops)

        x.requires_grad_(True)
        wt.requires_grad_(True)
        b.requires_grad_(True)
        g = torch.randn(n, co, ho, wo)

        def forward_backward():
            F.conv2d(x, wt, b, stride=s, padding=p).backward(g)

        for threads in threads_list:
            torch.set_num_threads(threads)
            row("conv fwd+bwd " + name, threads, median_seconds(repeats, forward_backward), flops=3 * flops)


def bench_pool(threads_list, repeats):
    for n, c, h in POOL_WORKLOADS:
        x = torch.randn(n, c, h, h)

        def pool():
            with torch.no_grad():
                F.max_pool2d(x, kernel_size=2)

        for threads in threads_list:
            torch.set_num_threads(threads)
            t = median_seconds(repeats, pool)
            gigabytes = (x.numel() * 4 + x.numel()) / 1e9  # the Swift suite's count: input read + output write
            pool_row(f"maxpool 2×2 {n}×{c}×{h}²", threads, t, gigabytes)


def bench_models(threads_list, inference_threads, repeats):
    for name, batch, side in MODEL_CASES:
        torch.manual_seed(0)
        model = make_model(name)
        model.train()
        x = torch.rand(batch, 1, side, side)
        labels = torch.arange(batch) % 10
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def train_step():
            loss = F.cross_entropy(model(x), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for threads in threads_list:
            torch.set_num_threads(threads)
            reps = max(1, repeats // 2) if side >= 96 else repeats
            reset_peak_memory()
            t = median_seconds(reps, train_step)
            row(f"train step {name} {side}² batch {batch}", threads, t, images=batch, peak_bytes=peak_memory_bytes())

        model.eval()
        torch.set_num_threads(inference_threads)
        for b in inference_batches(name):
            xb = torch.rand(b, 1, side, side)

            def infer():
                with torch.no_grad():
                    model(xb)

            reset_peak_memory()
            t = median_seconds(repeats * 20 if b == 1 else repeats, infer)
            row(f"inference {name} {side}² batch {b}", inference_threads, t, images=b, peak_bytes=peak_memory_bytes())


# --------------------------------------------------------------------------------------------

def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_inference_threads():
    """The Swift suite's `Threads.count` default: $CONVNET_NUM_THREADS if set, otherwise every core."""
    try:
        n = int(os.environ.get("CONVNET_NUM_THREADS", ""))
        if n > 0:
            return n
    except ValueError:
        pass
    return cpu_count()


def positive_int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def group_list(text):
    groups = {g.strip() for g in text.split(",") if g.strip()}
    unknown = groups - set(GROUPS)
    if not groups or unknown:
        raise argparse.ArgumentTypeError(f"unknown group(s) {sorted(unknown)}; choose from {', '.join(GROUPS)}")
    return groups


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=positive_int_list, default=[1, 2],
                        help="comma-separated thread counts for the kernel and training rows (default 1,2)")
    parser.add_argument("--only", type=group_list, default={"all"},
                        help="comma-separated groups: " + ", ".join(GROUPS) + " (default all)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per workload after the warm-up (default 5)")
    parser.add_argument("--inference-threads", type=int, default=None,
                        help="threads for the inference rows (default: $CONVNET_NUM_THREADS or every core, "
                             "as the Swift suite)")
    parser.add_argument("--params", action="store_true", help="print the models' parameter counts and exit")
    args = parser.parse_args(argv)

    if sys.stdout.encoding is None or sys.stdout.encoding.lower().replace("-", "") != "utf8":
        sys.stdout.reconfigure(encoding="utf-8")

    if args.params:
        for name in ZOO:
            print(f"{name:<12} {parameter_count(make_model(name)):>12,}")
        return 0

    repeats = max(1, args.repeats)
    inference_threads = args.inference_threads or default_inference_threads()
    wants = lambda g: "all" in args.only or g in args.only  # noqa: E731
    caps = torch.backends.cpu.get_cpu_capability()
    onednn = "oneDNN" if torch.backends.mkldnn.is_available() else "no oneDNN"
    print(f"PyTorch {torch.__version__} benchmark — threads {','.join(map(str, args.threads))} "
          f"(inference {inference_threads}), {cpu_count()} cores, CPU capability {caps}, {onednn}", flush=True)

    saved_threads = torch.get_num_threads()
    try:
        if wants("kernels") or wants("gemm"):
            bench_gemm(args.threads, repeats)
        if wants("kernels") or wants("conv"):
            bench_conv(args.threads, repeats)
        if wants("kernels") or wants("pool"):
            bench_pool(args.threads, repeats)
        if wants("models"):
            bench_models(args.threads, inference_threads, repeats)
    finally:
        torch.set_num_threads(saved_threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
