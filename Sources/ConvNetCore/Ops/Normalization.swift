import CKernels
import Foundation

/// Batch normalisation over dimension 1 of [N, C] or [N, C, …], as `F.batch_norm`.
/// In training it normalises with the batch statistics (biased variance) and, when given, updates
/// the running statistics in place with `momentum` (unbiased variance), as PyTorch does.
public func batchNorm(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil,
                      bias: Tensor? = nil, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
    OpTrace.op(.batchNorm(.init(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training,
                                momentum: momentum, eps: eps, relu: false)), [input]) {
        normalize(input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training,
                  momentum: momentum, eps: eps, relu: false)
    }
}

/// `relu(batchNorm(…))` as one operation: the forward pass writes the rectified values directly and
/// the backward pass folds the ReLU's gradient mask into the batch norm's, saving a pass over the
/// activations each way (the BN → ReLU pattern of D2L's ResNet, DenseNet and RegNet blocks).
public func batchNormReLU(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil,
                          bias: Tensor? = nil, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
    OpTrace.op(.batchNorm(.init(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training,
                                momentum: momentum, eps: eps, relu: true)), [input]) {
        normalize(input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training,
                  momentum: momentum, eps: eps, relu: true)
    }
}

func normalize(_ inputTensor: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?, training: Bool,
               momentum: Float, eps: Float, relu: Bool) -> Tensor {
    let input = inputTensor.contiguous()
    checkArgument(input.rank >= 2, "batch_norm: expected at least 2-D input, got shape \(input.shape)")
    let n = input.shape[0], c = input.shape[1]
    let inner = input.shape[2...].reduce(1, *)
    for (name, t) in [("running_mean", runningMean), ("running_var", runningVar), ("weight", weight), ("bias", bias)] {
        if let t { checkArgument(t.count == c, "batch_norm: \(name) should contain \(c) elements, not \(t.count) (input \(input.shape))") }
    }
    let m = n * inner
    checkArgument(!training || m > 1, "Expected more than 1 value per channel when training, got input size \(input.shape)")
    let x = input.elementPointer
    // (pointers taken once: a tensor's pointer checks its layout)
    let (wp, bp) = (weight?.elementPointer, bias?.elementPointer)
    let running = runningMean.flatMap { rm in runningVar.map { (rm.elementPointer, $0.elementPointer) } }
    var mean = [Float](repeating: 0, count: c), invstd = [Float](repeating: 0, count: c)
    // training updates the running statistics in place below: their versions say so (as PyTorch's
    // do), so what was computed from them (a compiled model's eval-mode affine maps) is made again
    if training { runningMean?.markModifiedInPlace(); runningVar?.markModifiedInPlace() }
    if training && inner == 1 {
        // [N, C] features (BatchNorm1d after a Linear): rows are contiguous, so walk them once per
        // pass, all channels at a time, instead of one channel's scattered column at a time
        var s = [Double](repeating: 0, count: c), s2 = [Double](repeating: 0, count: c)
        for i in 0..<n { let row = x + i * c; for ch in 0..<c { s[ch] += Double(row[ch]) } }
        for ch in 0..<c { s[ch] /= Double(m) }
        for i in 0..<n { let row = x + i * c; for ch in 0..<c { let d = Double(row[ch]) - s[ch]; s2[ch] += d * d } }
        for ch in 0..<c {
            let varBiased = s2[ch] / Double(m)
            mean[ch] = Float(s[ch])
            invstd[ch] = Float(1 / (varBiased + Double(eps)).squareRoot())
            if let (rm, rv) = running {
                rm[ch] = (1 - momentum) * rm[ch] + momentum * Float(s[ch])
                rv[ch] = (1 - momentum) * rv[ch] + momentum * Float(varBiased * Double(m) / Double(m - 1))
            }
        }
    } else if training {
        // channels are independent: split them over threads (each writes only its own entries), and
        // normalise each channel right after its statistics, while its planes are still in L2 (one
        // read of the input from memory instead of two)
        let out = Tensor(uninitializedShape: input.shape)
        let y = out.elementPointer
        var scales = [Float](repeating: 0, count: c), shifts = [Float](repeating: 0, count: c)
        mean.withUnsafeMutableBufferPointer { meanP in invstd.withUnsafeMutableBufferPointer { invP in
        scales.withUnsafeMutableBufferPointer { scaleP in shifts.withUnsafeMutableBufferPointer { shiftP in
            let meanB = meanP.baseAddress!, invB = invP.baseAddress!, scaleB = scaleP.baseAddress!, shiftB = shiftP.baseAddress!
            Threads.parallelFor(c, minPerThread: Swift.max(1, 65536 / Swift.max(m, 1))) { chans in
                for ch in chans {
                    var s: Double = 0, s2: Double = 0
                    for i in 0..<n { s += Double(ck_sum(x + (i * c + ch) * inner, inner)) }
                    let mu = s / Double(m)
                    for i in 0..<n { s2 += Double(ck_sum_sq_dev(x + (i * c + ch) * inner, inner, Float(mu))) }
                    let varBiased = s2 / Double(m)
                    meanB[ch] = Float(mu)
                    invB[ch] = Float(1 / (varBiased + Double(eps)).squareRoot())
                    if let (rm, rv) = running {
                        rm[ch] = (1 - momentum) * rm[ch] + momentum * Float(mu)
                        rv[ch] = (1 - momentum) * rv[ch] + momentum * Float(varBiased * Double(m) / Double(m - 1))
                    }
                    let (scale, shift) = channelAffine(mean: meanB[ch], invstd: invB[ch], channel: ch, weight: wp, bias: bp)
                    scaleB[ch] = scale; shiftB[ch] = shift
                    for i in 0..<n {
                        let off = (i * c + ch) * inner
                        ck_affine_relu(x + off, nil, y + off, inner, scale, shift, relu ? 1 : 0)
                    }
                }
            }
        } } } }
        return recordNormalization(input, out: out, mean: mean, invstd: invstd, scales: scales, shifts: shifts, weight: weight,
                                   bias: bias, training: training, relu: relu)
    } else {
        checkArgument(runningMean != nil && runningVar != nil, "batch_norm: running_mean and running_var must be defined in evaluation mode")
        let (rm, rv) = running!
        for ch in 0..<c {
            mean[ch] = rm[ch]
            invstd[ch] = 1 / (rv[ch] + eps).squareRoot()
        }
    }
    let out = Tensor(uninitializedShape: input.shape)
    let y = out.elementPointer
    let grain = Swift.max(1, 65536 / Swift.max(inner, 1))
    let affine = (0..<c).map { channelAffine(mean: mean[$0], invstd: invstd[$0], channel: $0, weight: wp, bias: bp) }
    let scales = affine.map(\.scale), shifts = affine.map(\.shift)
    if inner == 1 {
        for i in 0..<n {
            let p = x + i * c, q = y + i * c
            for ch in 0..<c {
                let v = p[ch] * scales[ch] + shifts[ch]
                q[ch] = relu && !(v > 0) ? 0 : v
            }
        }
    } else {
        Threads.parallelFor(n * c, minPerThread: grain) { r in
            for k in r { ck_affine_relu(x + k * inner, nil, y + k * inner, inner, scales[k % c], shifts[k % c], relu ? 1 : 0) }
        }
    }
    return recordNormalization(input, out: out, mean: mean, invstd: invstd, scales: scales, shifts: shifts, weight: weight,
                               bias: bias, training: training, relu: relu)
}

/// A batch norm's map of channel `ch`, y = x·scale + shift, from its mean and 1/σ.
/// (The parameters come as pointers, taken once per call: a tensor's pointer checks its layout.)
private func channelAffine(mean: Float, invstd: Float, channel ch: Int, weight: UnsafeMutablePointer<Float>?,
                           bias: UnsafeMutablePointer<Float>?) -> (scale: Float, shift: Float) {
    let scale = invstd * (weight?[ch] ?? 1)
    return (scale, (bias?[ch] ?? 0) - mean * scale)
}

/// The per-channel map an eval-mode batch norm applies, y = x·scale + shift (what a fused convolution
/// applies in its place), computed as `batchNorm` computes it.
public func batchNormInferenceAffine(runningMean: Tensor, runningVar: Tensor, weight: Tensor?, bias: Tensor?,
                                     eps: Float) -> (scale: [Float], shift: [Float]) {
    let (rm, rv, wp, bp) = (runningMean.elementPointer, runningVar.elementPointer, weight?.elementPointer, bias?.elementPointer)
    let affine = (0..<runningMean.count).map {
        channelAffine(mean: rm[$0], invstd: 1 / (rv[$0] + eps).squareRoot(), channel: $0, weight: wp, bias: bp)
    }
    return (affine.map(\.scale), affine.map(\.shift))
}

/// Records the batch norm's backward pass: per channel Σdy and Σdy·x̂ (through the ReLU's mask when
/// fused), then dx, dγ = Σdy·x̂, dβ = Σdy. `scales`/`shifts` are the forward's affine map per channel
/// (the kernels recompute the ReLU's mask from it).
private func recordNormalization(_ input: Tensor, out: Tensor, mean: [Float], invstd: [Float], scales: [Float], shifts: [Float],
                                 weight: Tensor?, bias: Tensor?, training: Bool, relu: Bool) -> Tensor {
    let n = input.shape[0], c = input.shape[1]
    let inner = input.shape[2...].reduce(1, *)
    let m = n * inner
    let x = input.elementPointer
    var inputs = [input]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let saved = relu ? out.detached() : nil   // the ReLU's mask (detached: no cycle through the graph)
    // {scale, shift} per channel, when the forward's AVX-512 kernel wrote the ReLU's output: the
    // backward kernels then recompute its mask from x instead of reading it back
    let affine: [Float]? = relu && inner > 1 && ck_gemm_isa() == 2 ? zip(scales, shifts).flatMap { [$0, $1] } : nil
    return Tensor.record(out, relu ? "batch_norm_relu" : "batch_norm", inputs, saving: inputs + (relu ? [out] : [])) { gy in
        let g = gy.elementPointer
        let yr = saved?.elementPointer
        var sumDy = [Float](repeating: 0, count: c), sumDyXhat = [Float](repeating: 0, count: c)
        // dx = a·dy − b − (x − μ)·c per channel. Training: dx = γσ⁻¹/m · (m·dy − Σdy − x̂·Σ(dy·x̂)),
        // so a = γσ⁻¹, b = γσ⁻¹·Σdy/m, c = γσ⁻²·Σ(dy·x̂)/m; eval: a = γσ⁻¹ and b = c = 0.
        let coefA = (0..<c).map { (weight?.elementPointer[$0] ?? 1) * invstd[$0] }
        let gx = input.requiresGrad ? Tensor(uninitializedShape: input.shape) : nil
        if inner == 1 {
            // [N, C]: row by row, all channels at a time (see the forward pass)
            var sd = [Double](repeating: 0, count: c), sx = [Double](repeating: 0, count: c)
            for i in 0..<n {
                let p = x + i * c, q = g + i * c, mask = yr.map { $0 + i * c }
                for ch in 0..<c {
                    let gv = mask.map { $0[ch] > 0 ? q[ch] : 0 } ?? q[ch]
                    sd[ch] += Double(gv); sx[ch] += Double(gv) * Double(p[ch] - mean[ch])
                }
            }
            for ch in 0..<c { sumDy[ch] = Float(sd[ch]); sumDyXhat[ch] = Float(sx[ch]) * invstd[ch] }
            if let gx {
                let coefB = (0..<c).map { training ? coefA[$0] * sumDy[$0] / Float(m) : 0 }
                let coefC = (0..<c).map { training ? coefA[$0] * invstd[$0] * sumDyXhat[$0] / Float(m) : 0 }
                for i in 0..<n {
                    let p = x + i * c, q = g + i * c, r = gx.elementPointer + i * c, mask = yr.map { $0 + i * c }
                    for ch in 0..<c {
                        let gv = mask.map { $0[ch] > 0 ? q[ch] : 0 } ?? q[ch]
                        // eval mode: no x term (an infinite input keeps a finite gradient)
                        r[ch] = training ? coefA[ch] * gv - coefB[ch] - (p[ch] - mean[ch]) * coefC[ch] : coefA[ch] * gv
                    }
                }
            }
        } else {
            // channel by channel: the sums, then (while the channel's planes are still in L2) dx
            sumDy.withUnsafeMutableBufferPointer { sdP in sumDyXhat.withUnsafeMutableBufferPointer { sxP in
            (affine ?? []).withUnsafeBufferPointer { affP in
                let sd = sdP.baseAddress!, sx = sxP.baseAddress!
                let aff = affine == nil ? nil : affP.baseAddress
                Threads.parallelFor(c, minPerThread: Swift.max(1, 65536 / Swift.max(m, 1))) { chans in
                    for ch in chans {
                        var a: Float = 0, b: Float = 0
                        for i in 0..<n {
                            let off = (i * c + ch) * inner
                            ck_sum_dot_dev(g + off, x + off, yr.map { $0 + off }, inner, mean[ch], aff.map { $0 + 2 * ch }, &a, &b)
                        }
                        sd[ch] = a; sx[ch] = b * invstd[ch]
                        guard let gx else { continue }
                        let coefB = training ? coefA[ch] * sd[ch] / Float(m) : 0
                        let coefC = training ? coefA[ch] * invstd[ch] * sx[ch] / Float(m) : 0
                        for i in 0..<n {
                            let off = (i * c + ch) * inner
                            ck_bn_input_grad(g + off, x + off, yr.map { $0 + off }, inner, aff.map { $0 + 2 * ch }, coefA[ch], coefB, mean[ch], coefC,
                                             gx.elementPointer + off)
                        }
                    }
                }
            } } }
        }
        var grads: [Tensor?] = [gx]
        if let weight { grads.append(weight.requiresGrad ? Tensor(shape: [c], scalars: sumDyXhat) : nil) }
        if let bias { grads.append(bias.requiresGrad ? Tensor(shape: [c], scalars: sumDy) : nil) }
        return grads
    }
}

/// Zeroes each element with probability `p` in training and scales the rest by 1/(1−p), as `F.dropout`.
public func dropout(_ input: Tensor, p: Float = 0.5, training: Bool = true, generator: Generator = .global) -> Tensor {
    OpTrace.op(.other("dropout", { dropout($0[0], p: p, training: training, generator: generator) },
                      attributes: ["p": .float(p), "training": .bool(training)]), [input]) {
        eagerDropout(input, p: p, training: training, generator: generator)
    }
}

private func eagerDropout(_ input: Tensor, p: Float, training: Bool, generator: Generator) -> Tensor {
    checkArgument(p >= 0 && p <= 1, "dropout probability has to be between 0 and 1, but got \(p)")
    guard training && p > 0 else { return input }
    if p == 1 { return input * 0 }
    let mask = Tensor.rand(input.shape, generator: generator)
    let scale = 1 / (1 - p)
    let m = mask.elementPointer
    for i in 0..<mask.count { m[i] = m[i] < p ? 0 : scale }
    return input * mask
}
