import CKernels
extension Tensor {
    /// Matrix product: 2-D × 2-D, batched (…×M×K) × (…×K×N) with equal batch dims, or batched × 2-D.
    /// 1-D operands are treated as a row (left) or column (right) vector, as `torch.matmul`.
    public func matmul(_ other: Tensor) -> Tensor {
        OpTrace.op(.other("matmul", { $0[0].matmul($0[1]) }), [self, other]) { eagerMatmul(other) }
    }

    private func eagerMatmul(_ other: Tensor) -> Tensor {
        guard isContiguous && other.isContiguous else { return contiguous().matmul(other.contiguous()) }
        if rank == 1 { return unsqueeze(0).matmul(other).squeeze(-2) }
        if other.rank == 1 { return matmul(other.unsqueeze(1)).squeeze(-1) }
        checkArgument(rank >= 2 && other.rank >= 2, "matmul: both arguments need at least 1 dimension")
        let m = shape[rank - 2], k = shape[rank - 1]
        let k2 = other.shape[other.rank - 2], n = other.shape[other.rank - 1]
        checkArgument(k == k2, "mat1 and mat2 shapes cannot be multiplied (\(shape.dropLast().reduce(1, *) )x\(k) and \(k2)x\(n)) — shapes \(shape) and \(other.shape)")
        let batchA = Array(shape.dropLast(2)), batchB = Array(other.shape.dropLast(2))
        checkArgument(batchB.isEmpty || batchA == batchB,
                     "matmul: batch dimensions \(batchA) and \(batchB) must be equal (shapes \(shape) and \(other.shape))")
        if batchB.isEmpty {
            // fold the batch into rows: one big GEMM
            let rows = count / k
            let out = Tensor(uninitializedShape: batchA + [m, n])
            GEMM.sgemm(transA: false, transB: false, m: rows, n: n, k: k, a: elementPointer, lda: k, b: other.elementPointer, ldb: n,
                       c: out.elementPointer, ldc: n, accumulate: false)
            return Tensor.record(out, "matmul", [self, other]) { g in
                var ga: Tensor? = nil, gb: Tensor? = nil
                if self.requiresGrad {
                    let t = Tensor(uninitializedShape: self.shape)
                    GEMM.sgemm(transA: false, transB: true, m: rows, n: k, k: n, a: g.elementPointer, lda: n, b: other.elementPointer, ldb: n,
                               c: t.elementPointer, ldc: k, accumulate: false)
                    ga = t
                }
                if other.requiresGrad {
                    let t = Tensor(uninitializedShape: other.shape)
                    GEMM.sgemm(transA: true, transB: false, m: k, n: n, k: rows, a: self.elementPointer, lda: k, b: g.elementPointer, ldb: n,
                               c: t.elementPointer, ldc: n, accumulate: false)
                    gb = t
                }
                return [ga, gb]
            }
        }
        let batch = batchA.reduce(1, *)
        let out = Tensor(uninitializedShape: batchA + [m, n])
        for b in 0..<batch {
            GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: elementPointer + b * m * k, lda: k,
                       b: other.elementPointer + b * k * n, ldb: n, c: out.elementPointer + b * m * n, ldc: n, accumulate: false)
        }
        return Tensor.record(out, "bmm", [self, other]) { g in
            let ga = Tensor(uninitializedShape: self.shape), gb = Tensor(uninitializedShape: other.shape)
            for b in 0..<batch {
                GEMM.sgemm(transA: false, transB: true, m: m, n: k, k: n, a: g.elementPointer + b * m * n, lda: n,
                           b: other.elementPointer + b * k * n, ldb: n, c: ga.elementPointer + b * m * k, ldc: k, accumulate: false)
                GEMM.sgemm(transA: true, transB: false, m: k, n: n, k: m, a: self.elementPointer + b * m * k, lda: k,
                           b: g.elementPointer + b * m * n, ldb: n, c: gb.elementPointer + b * k * n, ldc: n, accumulate: false)
            }
            return [ga, gb]
        }
    }
}

/// Matrix product of `a` and `b`; PyTorch's `torch.matmul(a, b)` / `a @ b`.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { a.matmul(b) }

/// `input · weightᵀ + bias` with `weight` of shape [out, in], as `F.linear`.
public func linear(_ input: Tensor, _ weight: Tensor, bias: Tensor? = nil) -> Tensor {
    OpTrace.op(.other("linear", { linear($0[0], $0[1], bias: $0.count > 2 ? $0[2] : nil) }), [input, weight] + (bias.map { [$0] } ?? [])) {
        eagerLinear(input, weight, bias: bias)
    }
}

private func eagerLinear(_ input: Tensor, _ weight: Tensor, bias: Tensor?) -> Tensor {
    let (input, weight, bias) = (input.contiguous(), weight.contiguous(), bias?.contiguous())
    checkArgument(weight.rank == 2, "linear: weight must be 2-D, got \(weight.shape)")
    let inF = weight.shape[1], outF = weight.shape[0]
    checkArgument(input.rank >= 1 && input.shape[input.rank - 1] == inF,
                 "mat1 and mat2 shapes cannot be multiplied (\(input.count / Swift.max(input.shape.last ?? 1, 1))x\(input.shape.last ?? 0) and \(inF)x\(outF)) — input \(input.shape), weight \(weight.shape)")
    if let bias { checkArgument(bias.shape == [outF], "linear: bias shape \(bias.shape) does not match weight \(weight.shape)") }
    let rows = input.count / inF
    let outShape = Array(input.shape.dropLast()) + [outF]
    let out = Tensor(uninitializedShape: outShape)
    Profiler.measure("linear fwd \(inF)→\(outF) ×\(rows)") {
        if rows <= 4 {
            // a few samples (batch-1 inference): dot products of each weight row with the inputs, the
            // weights streamed once (their rows split over threads: streaming them is the whole cost),
            // where the blocked GEMM would repack the whole weight matrix per call; the products come
            // out [outF × rows]
            let t = rows == 1 ? out : Tensor(uninitializedShape: [outF * rows])
            let (w, x, y) = (weight.elementPointer, input.elementPointer, t.elementPointer)
            Threads.parallelFor(outF, minPerThread: Swift.max(16, 262_144 / Swift.max(1, inF))) { r in
                ck_sgemm_small_n(r.count, rows, inF, w + r.lowerBound * inF, inF, x, inF, y + r.lowerBound * rows, rows)
            }
            if rows > 1 { ck_transpose(t.elementPointer, outF, rows, rows, out.elementPointer, outF) }
        } else {
            GEMM.sgemm(transA: false, transB: true, m: rows, n: outF, k: inF, a: input.elementPointer, lda: inF, b: weight.elementPointer, ldb: inF,
                       c: out.elementPointer, ldc: outF, accumulate: false)
        }
    }
    if let bias {
        let o = out.elementPointer, b = bias.elementPointer
        for r in 0..<rows { let row = o + r * outF; for j in 0..<outF { row[j] += b[j] } }
    }
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    return Tensor.record(out, "linear", inputs) { g in
        var gi: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
        if input.requiresGrad {
            let t = Tensor(uninitializedShape: input.shape)
            GEMM.sgemm(transA: false, transB: false, m: rows, n: inF, k: outF, a: g.elementPointer, lda: outF, b: weight.elementPointer, ldb: inF,
                       c: t.elementPointer, ldc: inF, accumulate: false)
            gi = t
        }
        if weight.requiresGrad {
            let t = Tensor(uninitializedShape: weight.shape)
            GEMM.sgemm(transA: true, transB: false, m: outF, n: inF, k: rows, a: g.elementPointer, lda: outF, b: input.elementPointer, ldb: inF,
                       c: t.elementPointer, ldc: inF, accumulate: false)
            gw = t
        }
        if let bias, bias.requiresGrad {
            let t = Tensor(shape: [outF], repeating: 0)
            for r in 0..<rows { Elementwise.axpy(1, g.elementPointer + r * outF, t.elementPointer, outF) }
            gb = t
        }
        return bias == nil ? [gi, gw] : [gi, gw, gb]
    }
}
