#!/usr/bin/env python3
"""ONNX fixtures for ConvNet's ONNX import tests (Tests/ConvNetTests/ONNXTests.swift).

Writes, into Tests/ConvNetTests/Resources/onnx/ (or --out DIR):
  <case>.onnx             the model, exported by torch.onnx.export (TorchScript exporter,
                          opset 17, dynamic batch, eval mode)
  <case>.io.safetensors   "input" (standard normal) and "output" (PyTorch's eval-mode output)
Committed cases (small):
  lenet            the zoo's LeNet (Sources/ConvNetNN/Models/LeNet.swift), input [2, 1, 28, 28]
  resnet18_narrow  D2L's ResNet-18 at an eighth of the width (stem 8 channels, stages
                   8/16/32/64), BatchNormalization kept as nodes (TrainingMode.PRESERVE),
                   input [2, 1, 64, 64]
  inception        D2L's Inception block Inception(16, 8, (8, 12), (4, 6), 6), input [2, 16, 12, 12]
  mobilenet_v2_narrow  torchvision's mobilenet_v2(width_mult=0.25, num_classes=10), input [2, 3, 32, 32]
  bad_*.onnx       tiny hand-made graphs (onnx.helper), each wrong in one way, for the error tests
With --large, instead: torchvision's resnet18 and mobilenet_v2 (and squeezenet1_1, googlenet
without aux heads, densenet121) with random weights (weights=None), input [1, 3, 224, 224]
(googlenet and densenet121 at 96×96): too big to commit, so the tests generate them at run time
when PyTorch is present (see ONNXTests) and skip them, visibly, otherwise.

Every BatchNorm gets random affine parameters and running statistics, so folding or applying it
wrongly shows. Deterministic for a given torch version (seeded).

Usage: /work/venv-torch/bin/python Tests/Fixtures/make_onnx_fixtures.py [--out DIR] [--large]
(needs torch, torchvision, onnx; pip install torchvision onnx in the venv).
"""
import argparse
import json
import os
import struct
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "ConvNetTests", "Resources", "onnx"))


def save_safetensors(tensors, path):
    """A safetensors file (float32 only), header keys sorted, written without the safetensors package."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class LeNet(nn.Module):
    """The zoo's LeNet (ReLU, max pooling), keyed as ConvNet keys it."""
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(256, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, 256)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Residual(nn.Module):
    def __init__(self, cin, c, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.conv3 = nn.Conv2d(cin, c, 1, stride=strides) if use_1x1conv else None
        self.bn1, self.bn2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.conv3(x) if self.conv3 is not None else x))


def narrow_resnet18(widths=(8, 16, 32, 64)):
    """D2L's ResNet-18 layout (7x7 stem, 2 residuals per stage) with narrow stages."""
    layers = [nn.Sequential(nn.Conv2d(1, widths[0], 7, 2, 3), nn.BatchNorm2d(widths[0]), nn.ReLU(), nn.MaxPool2d(3, 2, 1))]
    c = widths[0]
    for i, w in enumerate(widths):
        blocks = []
        for j in range(2):
            blocks.append(Residual(c, w, use_1x1conv=True, strides=2) if j == 0 and i != 0 else Residual(c, w))
            c = w
        layers.append(nn.Sequential(*blocks))
    layers.append(nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(c, 10)))
    return nn.Sequential(*layers)


class Inception(nn.Module):
    def __init__(self, cin, c1, c2, c3, c4):
        super().__init__()
        self.b1_1 = nn.Conv2d(cin, c1, 1)
        self.b2_1, self.b2_2 = nn.Conv2d(cin, c2[0], 1), nn.Conv2d(c2[0], c2[1], 3, padding=1)
        self.b3_1, self.b3_2 = nn.Conv2d(cin, c3[0], 1), nn.Conv2d(c3[0], c3[1], 5, padding=2)
        self.b4_1, self.b4_2 = nn.MaxPool2d(3, 1, 1), nn.Conv2d(cin, c4, 1)

    def forward(self, x):
        b1 = F.relu(self.b1_1(x))
        b2 = F.relu(self.b2_2(F.relu(self.b2_1(x))))
        b3 = F.relu(self.b3_2(F.relu(self.b3_1(x))))
        b4 = F.relu(self.b4_2(self.b4_1(x)))
        return torch.cat((b1, b2, b3, b4), dim=1)


def randomize_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)


def export(name, model, shape, out, seed, keep_batchnorm=False):
    gen = torch.Generator().manual_seed(seed)
    randomize_batchnorm(model, gen)
    model.eval()
    x = torch.randn(*shape, generator=gen)
    with torch.no_grad():
        y = model(x)
    path = os.path.join(out, name + ".onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          training=torch.onnx.TrainingMode.PRESERVE if keep_batchnorm else torch.onnx.TrainingMode.EVAL)
    save_safetensors({"input": x, "output": y}, os.path.join(out, name + ".io.safetensors"))
    print(f"{name}: {os.path.getsize(path)} bytes, output {tuple(y.shape)}")


def bad_models(out):
    """Tiny graphs, each wrong in one way (the error tests read them)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "conv.weight")
    def graph(nodes, inits, name="g"):
        return helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 8, 8])],
                                 [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], inits)
    def save(graph, name, opset=17):
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_onnx_fixtures")
        m.ir_version = 8
        onnx.save(m, os.path.join(out, name + ".onnx"))
    conv = helper.make_node("Conv", ["input", "conv.weight"], ["c"], name="conv", pads=[1, 1, 1, 1])
    relu = helper.make_node("Relu", ["c"], ["output"], name="relu")
    save(graph([conv, relu], [w]), "good_tiny")
    save(graph([conv, helper.make_node("FancyActivation", ["c"], ["output"], name="fancy")], [w]), "bad_unknown_op")
    save(graph([conv, relu], []), "bad_missing_initializer")
    w5 = numpy_helper.from_array(np.ones((4, 5, 3, 3), np.float32), "conv.weight")
    save(graph([conv, relu], [w5]), "bad_shape")
    cyc = [helper.make_node("Add", ["input", "r2"], ["a"], name="add"), helper.make_node("Relu", ["a"], ["r2"], name="loop_relu"),
           helper.make_node("Relu", ["r2"], ["output"], name="relu")]
    save(graph(cyc, []), "bad_cycle")
    save(graph([conv, relu], [w]), "bad_opset", opset=99)
    ext = onnx.TensorProto()
    ext.CopyFrom(w)
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    e = ext.external_data.add(); e.key = "location"; e.value = "weights.bin"
    save(graph([conv, relu], [ext]), "bad_external_data")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--large", action="store_true")
    p.add_argument("--only", default=None, help="comma-separated case names (with --large)")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    if a.large:
        import torchvision
        cases = {
            "tv_resnet18": lambda: (torchvision.models.resnet18(weights=None), [1, 3, 224, 224]),
            "tv_mobilenet_v2": lambda: (torchvision.models.mobilenet_v2(weights=None), [1, 3, 224, 224]),
            "tv_squeezenet1_1": lambda: (torchvision.models.squeezenet1_1(weights=None), [1, 3, 224, 224]),
            "tv_googlenet": lambda: (torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True), [1, 3, 96, 96]),
            "tv_densenet121": lambda: (torchvision.models.densenet121(weights=None), [1, 3, 96, 96]),
            "tv_alexnet": lambda: (torchvision.models.alexnet(weights=None), [1, 3, 224, 224]),
            "tv_vgg11": lambda: (torchvision.models.vgg11(weights=None), [1, 3, 224, 224]),
        }
        only = a.only.split(",") if a.only else ["tv_resnet18", "tv_mobilenet_v2"]
        for i, name in enumerate(only):
            torch.manual_seed(100 + i)
            model, shape = cases[name]()
            export(name, model, shape, a.out, seed=200 + i)
        return
    torch.manual_seed(1)
    export("lenet", LeNet(), [2, 1, 28, 28], a.out, seed=11)
    torch.manual_seed(2)
    export("resnet18_narrow", narrow_resnet18(), [2, 1, 64, 64], a.out, seed=12, keep_batchnorm=True)
    torch.manual_seed(3)
    export("inception", Inception(16, 8, (8, 12), (4, 6), 6), [2, 16, 12, 12], a.out, seed=13)
    import torchvision
    torch.manual_seed(4)
    export("mobilenet_v2_narrow", torchvision.models.mobilenet_v2(weights=None, width_mult=0.25, num_classes=10), [2, 3, 32, 32], a.out, seed=14)
    bad_models(a.out)


if __name__ == "__main__":
    main()
