import CKernels

/// Matrix multiply kernels over raw row-major buffers.
public enum GEMM {
    /// The micro-kernel in use: "avx512", "avx2" or "portable".
    public static var isa: String { ["portable", "avx2", "avx512"][Int(ck_gemm_isa())] }


    /// C[M×N] (+)= op(A)·op(B) on one thread.
    @inline(__always)
    public static func sgemmSingle(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                   a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                   c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        ck_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }

    /// C[M×N] (+)= op(A)·op(B), split over threads by columns (or rows when N is narrow).
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        let flops = 2 * m * n * k
        let threads = Threads.count
        if threads <= 1 || flops < 2_000_000 {
            sgemmSingle(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                        c: c, ldc: ldc, accumulate: accumulate)
            return
        }
        if n >= 64 * threads {
            // split columns on 64-wide panel boundaries; A is packed once and shared
            PackedA(transA: transA, m: m, k: k, a: a, lda: lda)
                .multiplyThreaded(n: n, transB: transB, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        } else {
            let blocks = (m + 5) / 6
            Threads.parallelFor(blocks) { r in
                let i0 = r.lowerBound * 6, i1 = Swift.min(m, r.upperBound * 6)
                let aOff = transA ? i0 : i0 * lda
                sgemmSingle(transA: transA, transB: transB, m: i1 - i0, n: n, k: k, a: a + aOff, lda: lda,
                            b: b, ldb: ldb, c: c + i0 * ldc, ldc: ldc, accumulate: accumulate)
            }
        }
    }
}

/// A left operand packed once for the micro-kernel, shared by many GEMMs with different right
/// operands (column blocks on several threads, blocks of images in a convolution).
public final class PackedA: @unchecked Sendable {
    /// The rows (`m`) and the shared dimension (`k`) of the packed operand.
    public let m: Int, k: Int
    private let buffer: Tensor
    /// The packed panels (valid while this object lives).
    var pointer: UnsafePointer<Float> { UnsafePointer(buffer.elementPointer) }
    /// Bytes the panels occupy.
    var bytes: Int { buffer.count * MemoryLayout<Float>.size }

    /// Packs the `m`×`k` left operand read from `a` (leading dimension `lda`; `a` holds its transpose when `transA`) into the micro-kernel's panels.
    public init(transA: Bool, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int) {
        self.m = m
        self.k = k
        buffer = Tensor(uninitializedShape: [ck_packed_a_size(m, k)])
        ck_pack_a(transA ? 1 : 0, m, k, a, lda, buffer.elementPointer)
    }

    /// C[m×n] (+)= A·op(B) on the calling thread.
    @inline(__always)
    public func multiply(n: Int, transB: Bool, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                         accumulate: Bool) {
        product(n: n, transB: transB, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate, epilogue: nil)
    }

    /// C = epilogue(A·B): the epilogue (its residual from C's origin) applied as C is stored.
    func fusedMultiply(n: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: ck_epilogue) {
        product(n: n, transB: false, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: false, epilogue: epilogue)
    }

    /// The same, split over threads by columns when large.
    public func multiplyThreaded(n: Int, transB: Bool, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                                 accumulate: Bool) {
        productSplittingColumns(n: n, transB: transB, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate, epilogue: nil)
    }

    /// ``fusedMultiply(n:b:ldb:c:ldc:epilogue:)`` with the columns split over threads in 64-wide panels.
    func fusedMultiplyThreaded(n: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                               epilogue: ck_epilogue) {
        productSplittingColumns(n: n, transB: false, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: false, epilogue: epilogue)
    }

    /// C[m×n] = A·B for `n` too narrow to split by columns (a few output pixels): the threads take
    /// 6-row panels of A instead, each packing the same small B.
    public func multiplySplittingRows(n: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        productSplittingRows(n: n, b: b, ldb: ldb, c: c, ldc: ldc, epilogue: nil)
    }

    /// ``multiplySplittingRows(n:b:ldb:c:ldc:)`` with the epilogue applied as C is stored.
    func fusedMultiplySplittingRows(n: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                                    epilogue: ck_epilogue) {
        productSplittingRows(n: n, b: b, ldb: ldb, c: c, ldc: ldc, epilogue: epilogue)
    }

    // The three ways to run the product, each with or without an epilogue.

    @inline(__always)
    private func product(n: Int, transB: Bool, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                         accumulate: Bool, epilogue: ck_epilogue?) {
        withOptionalPointer(epilogue) { ep in
            ck_sgemm_packed(m, n, k, buffer.elementPointer, transB ? 1 : 0, b, ldb, c, ldc, accumulate ? 1 : 0, ep)
        }
    }

    private func productSplittingColumns(n: Int, transB: Bool, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>,
                                         ldc: Int, accumulate: Bool, epilogue: ck_epilogue?) {
        let threads = Threads.count
        if threads <= 1 || 2 * m * n * k < 2_000_000 {
            product(n: n, transB: transB, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate, epilogue: epilogue)
            return
        }
        if rowSplitIsBetter(n: n, threads: threads) {
            let (m, k, a) = (m, k, pointer)
            withOptionalPointer(epilogue) { ep in
                Threads.parallelFor((m + 5) / 6) { r in
                    ck_sgemm_packed_rows(m, r.lowerBound * 6, r.upperBound * 6, n, k, a,
                                         transB ? 1 : 0, b, ldb, c, ldc, accumulate ? 1 : 0, ep)
                }
            }
            return
        }
        if n < 128 {
            product(n: n, transB: transB, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate, epilogue: epilogue)
            return
        }
        Threads.parallelPanels(n) { j0, j1 in
            self.product(n: j1 - j0, transB: transB, b: b + (transB ? j0 * ldb : j0), ldb: ldb, c: c + j0, ldc: ldc,
                         accumulate: accumulate, epilogue: epilogue?.shifted(columns: j0))
        }
    }

    /// Whether splitting the 6-row panels over threads leaves the busiest thread less to do than
    /// splitting the 64-column panels: a 14×14 map's 196 columns are 3 panels and a 4-column one,
    /// so by columns one thread takes 8 of the 13 vectors (each thread reads all of B instead, which
    /// only small right operands afford).
    private func rowSplitIsBetter(n: Int, threads: Int) -> Bool {
        let panels = (n + 63) / 64, rowPanels = (m + 5) / 6
        guard n <= 1024 && rowPanels >= threads else { return false }
        let vectors = { (p: Int) in Swift.min(4, (n - p * 64 + 15) / 16) }
        var byColumns = 0
        if n >= 128 {
            for t in 0..<threads {
                let busy = (panels * t / threads..<panels * (t + 1) / threads).reduce(0) { $0 + vectors($1) }
                byColumns = Swift.max(byColumns, busy * rowPanels)
            }
        } else {
            byColumns = (0..<panels).reduce(0) { $0 + vectors($1) } * rowPanels
        }
        let byRows = (rowPanels + threads - 1) / threads * (0..<panels).reduce(0) { $0 + vectors($1) }
        return 10 * byRows < 9 * byColumns
    }

    private func productSplittingRows(n: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                                      epilogue: ck_epilogue?) {
        let panels = (m + 5) / 6, (m, k, a) = (m, k, pointer)
        withOptionalPointer(epilogue) { ep in
            Threads.parallelFor(panels, minPerThread: Swift.max(1, 300_000 / Swift.max(1, 12 * n * k))) { r in
                ck_sgemm_packed_rows(m, r.lowerBound * 6, r.upperBound * 6, n, k, a, 0, b, ldb, c,
                                     ldc, 0, ep)
            }
        }
    }
}

/// `body` with a pointer to `value`, or nil when there is none.
@inline(__always)
func withOptionalPointer<T, R>(_ value: T?, _ body: (UnsafePointer<T>?) throws -> R) rethrows -> R {
    guard let value else { return try body(nil) }
    return try withUnsafePointer(to: value) { try body($0) }
}

/// A right operand packed once in the AVX-512 micro-kernel's 64-wide panels (a layer's weights,
/// transposed, kept for inference), shared by threads that each take some of its panels.
final class PackedB: @unchecked Sendable {
    let k: Int, n: Int
    private let buffer: Tensor
    /// Bytes the panels occupy.
    var bytes: Int { buffer.count * MemoryLayout<Float>.size }
    /// 64-wide column panels.
    var panels: Int { (n + 63) / 64 }

    /// Packs op(B) [k×n] read from `b` (`transB`: `b` holds its transpose, n rows of k).
    init(transB: Bool, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int) {
        self.k = k
        self.n = n
        buffer = Tensor(uninitializedShape: [ck_packed_b_size(k, n)])
        ck_pack_b_all(transB ? 1 : 0, k, n, b, ldb, buffer.elementPointer)
    }

    /// C[m×n] = A·B for A packed by `PackedA`. The threads split the tiles (a 64-wide panel by six
    /// rows of A) evenly, panel by panel: a whole panel each would leave one of two threads 3 of
    /// 5 panels (a 320-channel layer).
    func multiply(_ a: PackedA, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(a.k == k, "PackedB.multiply: A has \(a.k) columns, B \(k) rows")
        let rowPanels = (a.m + 5) / 6
        Threads.parallelFor(panels * rowPanels) { r in
            var tile = r.lowerBound
            while tile < r.upperBound {
                let panel = tile / rowPanels, first = tile % rowPanels
                let end = Swift.min(rowPanels, first + r.upperBound - tile)
                let rows = first * 6..<Swift.min(a.m, end * 6)
                ck_sgemm_bpacked_rows(0, a.m, rows.lowerBound, rows.upperBound, self.n, self.k, nil, 0, a.pointer,
                                      self.buffer.elementPointer, panel, panel + 1, c, ldc)
                tile += end - first
            }
        }
    }
}

extension ck_epilogue {
    /// The same epilogue for a C that starts `columns` further right (its residual moves with it).
    func shifted(columns: Int) -> ck_epilogue {
        var e = self
        e.residual = residual.map { $0 + columns }
        return e
    }
}
