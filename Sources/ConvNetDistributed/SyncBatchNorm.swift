import ConvNetCore
import ConvNetNN

/// Batch normalisation whose training statistics cover the whole global batch, as PyTorch's
/// `nn.SyncBatchNorm`: each rank sums its share per channel, the sums are all-reduced, and the
/// mean and variance are those of every rank's examples together; the backward pass all-reduces
/// Σdy and Σdy·(x−μ) the same way, so the input gradient is the one a single process would compute
/// over the global batch. The running statistics are updated with the global values (so they stay
/// equal on every rank). Evaluation uses the running statistics, as the ordinary layer.
public enum SyncBatchNorm {
    /// Makes every `BatchNorm` layer of `model` synchronise its statistics over `group`
    /// (PyTorch's `SyncBatchNorm.convert_sync_batchnorm`); returns how many layers were converted.
    /// Every rank must convert the same model. With one process nothing changes.
    @discardableResult
    public static func convert(_ model: any Module, group: ProcessGroup) -> Int {
        guard group.isDistributed else { return 0 }
        let layers = model.modules().compactMap { $0 as? BatchNorm }
        for bn in layers { bn.trainingForward = { layer, x in forward(layer, x, group: group) } }
        return layers.count
    }

    /// The synchronised training forward of `layer` on `input` (`[N, C, …]`).
    static func forward(_ layer: BatchNorm, _ input: Tensor, group: ProcessGroup) -> Tensor {
        let x = input.contiguous()
        let n = x.shape[0], c = x.shape[1], inner = x.shape[2...].reduce(1, *)
        let xp = x.elementPointer
        // pass 1: the global mean (the count rides along: shards may differ in size)
        var sums = [Double](repeating: 0, count: c + 1)
        for i in 0..<n { for ch in 0..<c {
            let p = xp + (i * c + ch) * inner
            var s = 0.0
            for k in 0..<inner { s += Double(p[k]) }
            sums[ch] += s
        } }
        sums[c] = Double(n * inner)
        sums = group.allReduceSum(sums)
        let m = sums[c]
        checkArgument(m > 1, "SyncBatchNorm: expected more than 1 value per channel when training, got \(Int(m)) over all ranks")
        let mean = (0..<c).map { sums[$0] / m }
        // pass 2: the global variance about that mean (two passes, as the single-process layer)
        var squares = [Double](repeating: 0, count: c)
        for i in 0..<n { for ch in 0..<c {
            let p = xp + (i * c + ch) * inner, mu = mean[ch]
            var s = 0.0
            for k in 0..<inner { let d = Double(p[k]) - mu; s += d * d }
            squares[ch] += s
        } }
        squares = group.allReduceSum(squares)
        let varBiased = squares.map { $0 / m }
        let invstd = varBiased.map { Float(1 / ($0 + Double(layer.eps)).squareRoot()) }
        let meanF = mean.map { Float($0) }
        if let rm = layer.runningMean, let rv = layer.runningVar {
            let mom = layer.momentum
            for ch in 0..<c {
                rm.elementPointer[ch] = (1 - mom) * rm.elementPointer[ch] + mom * meanF[ch]
                rv.elementPointer[ch] = (1 - mom) * rv.elementPointer[ch] + mom * Float(varBiased[ch] * m / (m - 1))
            }
            rm.markModifiedInPlace()
            rv.markModifiedInPlace()
        }
        let gamma = layer.weight.map { w in (0..<c).map { w.elementPointer[$0] } } ?? [Float](repeating: 1, count: c)
        let beta = layer.bias.map { b in (0..<c).map { b.elementPointer[$0] } } ?? [Float](repeating: 0, count: c)
        let out = Tensor.empty(x.shape)
        let yp = out.elementPointer
        for i in 0..<n { for ch in 0..<c {
            let base = (i * c + ch) * inner
            let scale = gamma[ch] * invstd[ch], shift = beta[ch] - meanF[ch] * scale
            for k in 0..<inner { yp[base + k] = xp[base + k] * scale + shift }
        } }
        var inputs = [x]
        if let w = layer.weight { inputs.append(w) }
        if let b = layer.bias { inputs.append(b) }
        let hasWeight = layer.weight != nil, hasBias = layer.bias != nil
        return Tensor.recordOp(out, "sync_batch_norm", inputs) { gy in
            let g = gy.contiguous()
            let gp = g.elementPointer
            // local Σdy and Σdy·(x−μ) per channel, then the global ones for dx
            var local = [Double](repeating: 0, count: 2 * c)
            for i in 0..<n { for ch in 0..<c {
                let base = (i * c + ch) * inner, mu = mean[ch]
                var sd = 0.0, sx = 0.0
                for k in 0..<inner { let d = Double(gp[base + k]); sd += d; sx += d * (Double(xp[base + k]) - mu) }
                local[ch] += sd; local[c + ch] += sx
            } }
            let global = group.allReduceSum(local)
            var grads: [Tensor?] = []
            if x.requiresGrad {
                let gx = Tensor.empty(x.shape)
                let dp = gx.elementPointer
                for i in 0..<n { for ch in 0..<c {
                    let base = (i * c + ch) * inner
                    let a = gamma[ch] * invstd[ch]
                    let meanDy = Float(global[ch] / m)
                    let coef = invstd[ch] * invstd[ch] * Float(global[c + ch] / m)
                    for k in 0..<inner { dp[base + k] = a * (gp[base + k] - meanDy - (xp[base + k] - meanF[ch]) * coef) }
                } }
                grads.append(gx)
            } else {
                grads.append(nil)
            }
            // the parameters' gradients are this rank's share; DistributedDataParallel averages them
            if hasWeight { grads.append(Tensor(shape: [c], scalars: (0..<c).map { Float(local[c + $0]) * invstd[$0] })) }
            if hasBias { grads.append(Tensor(shape: [c], scalars: (0..<c).map { Float(local[$0]) })) }
            return grads
        }
    }
}
