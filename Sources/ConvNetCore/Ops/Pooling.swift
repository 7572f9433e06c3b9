import CKernels

private func poolGeometry(_ op: String, _ x: Tensor, _ k: Size2, _ s: Size2, _ p: Size2, _ d: Size2, _ ceil: Bool)
    -> (planes: Int, h: Int, w: Int, ho: Int, wo: Int) {
    checkArgument(x.rank == 3 || x.rank == 4, "\(op): expected 3D or 4D input, got shape \(x.shape)")
    checkArgument(k.h > 0 && k.w > 0, "\(op): kernel size must be greater than zero, got \(k)")
    checkArgument(s.h > 0 && s.w > 0, "\(op): stride must be greater than zero, got \(s)")
    checkArgument(p.h <= k.h / 2 && p.w <= k.w / 2 && p.h >= 0 && p.w >= 0,
                 "\(op): pad should be at most half of effective kernel size, but got pad=\(p), kernel_size=\(k)")
    let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
    let ho = convOutputSize(h, kernel: k.h, stride: s.h, padding: p.h, dilation: d.h, ceilMode: ceil)
    let wo = convOutputSize(w, kernel: k.w, stride: s.w, padding: p.w, dilation: d.w, ceilMode: ceil)
    checkArgument(ho > 0 && wo > 0, "\(op): given input size \(x.shape), calculated output size (\(ho)x\(wo)) is too small")
    return (x.count / (h * w), h, w, ho, wo)
}

/// 2-D max pooling, as `F.max_pool2d`; `stride` defaults to the kernel size.
public func maxPool2d(_ inputTensor: Tensor, kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0,
                      dilation: Size2 = 1, ceilMode: Bool = false) -> Tensor {
    OpTrace.op(.maxPool2d(kernel: kernelSize, stride: stride ?? kernelSize, padding: padding, dilation: dilation, ceil: ceilMode), [inputTensor]) {
        eagerMaxPool2d(inputTensor, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
}

private func eagerMaxPool2d(_ inputTensor: Tensor, kernelSize: Size2, stride: Size2?, padding: Size2, dilation: Size2, ceilMode: Bool) -> Tensor {
    let input = inputTensor.contiguous()
    let s = stride ?? kernelSize
    let g = poolGeometry("max_pool2d", input, kernelSize, s, padding, dilation, ceilMode)
    let outShape = Array(input.shape.dropLast(2)) + [g.ho, g.wo]
    let out = Tensor(uninitializedShape: outShape)
    let needIndices = GradMode.isEnabled && input.requiresGrad
    // argmax indices live in pooled tensor memory (4-byte slots): a fresh allocation per call
    // would page-fault on every training step
    let indexStore = needIndices ? Tensor(uninitializedShape: [out.count]) : nil
    let indices = indexStore.map { UnsafeMutableRawPointer($0.elementPointer).assumingMemoryBound(to: Int32.self) }
    let plane = g.h * g.w, oplane = g.ho * g.wo
    Profiler.measure("max pool \(kernelSize.h)×\(kernelSize.w)/\(s.h) @\(g.h)×\(g.w)") {
        Threads.parallelFor(g.planes, minPerThread: Swift.max(1, 4096 / Swift.max(oplane, 1))) { r in
            ck_maxpool2d(input.elementPointer + r.lowerBound * plane, r.count, g.h, g.w, kernelSize.h, kernelSize.w, padding.h, padding.w,
                         s.h, s.w, dilation.h, dilation.w, g.ho, g.wo, out.elementPointer + r.lowerBound * oplane,
                         indices.map { $0 + r.lowerBound * oplane })
        }
    }
    guard let indexStore, let indices else { return out }
    return Tensor.record(out, "max_pool2d", [input], saving: []) { gy in
        let gx = Tensor(uninitializedShape: input.shape)
        Threads.parallelFor(g.planes, minPerThread: Swift.max(1, 4096 / Swift.max(oplane, 1))) { r in
            _ = indexStore // keeps the indices alive with the graph
            // zeroed here, by the thread that scatters into these planes (a serial memset of the
            // stem's 38 MB gradient took as long as the scatter)
            (gx.elementPointer + r.lowerBound * plane).update(repeating: 0, count: r.count * plane)
            ck_maxpool2d_backward(gy.elementPointer + r.lowerBound * oplane, indices + r.lowerBound * oplane, r.count,
                                  g.h, g.w, g.ho, g.wo, gx.elementPointer + r.lowerBound * plane)
        }
        return [gx]
    }
}

/// `maxPool2d` with integer options.
public func maxPool2d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1,
                      ceilMode: Bool = false) -> Tensor {
    maxPool2d(input, kernelSize: Size2(kernelSize), stride: stride.map { Size2($0) }, padding: Size2(padding),
              dilation: Size2(dilation), ceilMode: ceilMode)
}

/// 2-D average pooling, as `F.avg_pool2d`.
public func avgPool2d(_ inputTensor: Tensor, kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0,
                      ceilMode: Bool = false, countIncludePad: Bool = true) -> Tensor {
    OpTrace.op(.other("avg_pool2d", { avgPool2d($0[0], kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                                                countIncludePad: countIncludePad) },
                         attributes: ["kernel": .ints([kernelSize.h, kernelSize.w]), "stride": .ints([(stride ?? kernelSize).h, (stride ?? kernelSize).w]),
                                      "padding": .ints([padding.h, padding.w]), "ceil": .bool(ceilMode), "count_include_pad": .bool(countIncludePad)]),
               [inputTensor]) {
        eagerAvgPool2d(inputTensor, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad)
    }
}

private func eagerAvgPool2d(_ inputTensor: Tensor, kernelSize: Size2, stride: Size2?, padding: Size2, ceilMode: Bool, countIncludePad: Bool) -> Tensor {
    let input = inputTensor.contiguous()
    let s = stride ?? kernelSize
    let g = poolGeometry("avg_pool2d", input, kernelSize, s, padding, 1, ceilMode)
    let outShape = Array(input.shape.dropLast(2)) + [g.ho, g.wo]
    let out = Tensor(uninitializedShape: outShape)
    let plane = g.h * g.w, oplane = g.ho * g.wo
    let cip: Int32 = countIncludePad ? 1 : 0
    Threads.parallelFor(g.planes, minPerThread: Swift.max(1, 4096 / Swift.max(oplane, 1))) { r in
        ck_avgpool2d(input.elementPointer + r.lowerBound * plane, r.count, g.h, g.w, kernelSize.h, kernelSize.w, padding.h, padding.w,
                     s.h, s.w, g.ho, g.wo, cip, out.elementPointer + r.lowerBound * oplane)
    }
    return Tensor.record(out, "avg_pool2d", [input], saving: []) { gy in
        let gx = Tensor(shape: input.shape, repeating: 0)
        Threads.parallelFor(g.planes, minPerThread: Swift.max(1, 4096 / Swift.max(oplane, 1))) { r in
            ck_avgpool2d_backward(gy.elementPointer + r.lowerBound * oplane, r.count, g.h, g.w, kernelSize.h, kernelSize.w,
                                  padding.h, padding.w, s.h, s.w, g.ho, g.wo, cip, gx.elementPointer + r.lowerBound * plane)
        }
        return [gx]
    }
}

/// `avgPool2d` with integer options.
public func avgPool2d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false,
                      countIncludePad: Bool = true) -> Tensor {
    avgPool2d(input, kernelSize: Size2(kernelSize), stride: stride.map { Size2($0) }, padding: Size2(padding),
              ceilMode: ceilMode, countIncludePad: countIncludePad)
}

/// Adaptive average pooling to a fixed output size, with PyTorch's window bounds
/// (start = ⌊i·H/Ho⌋, end = ⌈(i+1)·H/Ho⌉).
public func adaptiveAvgPool2d(_ input: Tensor, outputSize: Size2) -> Tensor {
    OpTrace.op(.other("adaptive_avg_pool2d", { adaptiveAvgPool2d($0[0], outputSize: outputSize) },
                      attributes: ["output_size": .ints([outputSize.h, outputSize.w])]), [input]) {
        eagerAdaptiveAvgPool2d(input, outputSize: outputSize)
    }
}

private func eagerAdaptiveAvgPool2d(_ input: Tensor, outputSize: Size2) -> Tensor {
    let input = input.contiguous()
    checkArgument(input.rank == 3 || input.rank == 4, "adaptive_avg_pool2d: expected 3D or 4D input, got shape \(input.shape)")
    checkArgument(outputSize.h > 0 && outputSize.w > 0, "adaptive_avg_pool2d: output size must be positive, got \(outputSize)")
    let h = input.shape[input.rank - 2], w = input.shape[input.rank - 1]
    let ho = outputSize.h, wo = outputSize.w
    let planes = input.count / Swift.max(h * w, 1)
    let hs = (0..<ho).map { $0 * h / ho }, he = (0..<ho).map { (($0 + 1) * h + ho - 1) / ho }
    let ws = (0..<wo).map { $0 * w / wo }, we = (0..<wo).map { (($0 + 1) * w + wo - 1) / wo }
    let out = Tensor(uninitializedShape: Array(input.shape.dropLast(2)) + [ho, wo])
    let x = input.elementPointer, y = out.elementPointer
    if ho == 1 && wo == 1 {
        // global pooling (a classifier's head): each plane's vectorised sum, split over threads from
        // 8K values each (at batch 1 it sits between two parallel regions, the other threads idle)
        let area = h * w
        Threads.parallelFor(planes, minPerThread: Swift.max(1, 8_192 / Swift.max(area, 1))) { r in
            ck_plane_means(x + r.lowerBound * area, r.count, area, y + r.lowerBound)
        }
    } else {
        Threads.parallelFor(planes) { r in
            for p in r {
                for i in 0..<ho { for j in 0..<wo {
                    var s: Float = 0
                    for a in hs[i]..<he[i] { for b in ws[j]..<we[j] { s += x[p * h * w + a * w + b] } }
                    y[p * ho * wo + i * wo + j] = s / Float((he[i] - hs[i]) * (we[j] - ws[j]))
                } }
            }
        }
    }
    return Tensor.record(out, "adaptive_avg_pool2d", [input], saving: []) { gy in
        let gx = Tensor(shape: input.shape, repeating: 0)
        let (dx, dy) = (gx.elementPointer, gy.elementPointer)
        for p in 0..<planes {
            for i in 0..<ho { for j in 0..<wo {
                let v = dy[p * ho * wo + i * wo + j] / Float((he[i] - hs[i]) * (we[j] - ws[j]))
                for a in hs[i]..<he[i] { for b in ws[j]..<we[j] { dx[p * h * w + a * w + b] += v } }
            } }
        }
        return [gx]
    }
}

/// Adaptive average pooling to a square `outputSize`×`outputSize` output; PyTorch's `F.adaptive_avg_pool2d(x, n)`.
public func adaptiveAvgPool2d(_ input: Tensor, outputSize: Int) -> Tensor {
    adaptiveAvgPool2d(input, outputSize: Size2(outputSize))
}
