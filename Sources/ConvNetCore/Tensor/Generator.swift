import Foundation

/// A seeded pseudo-random generator (xoshiro256**), so the same seed gives the same tensors.
public final class Generator: @unchecked Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private let lock = NSLock()

    /// A generator whose sequence is fixed by `seed` (PyTorch's `torch.Generator().manual_seed(seed)`).
    public init(seed: UInt64) {
        s = (0, 0, 0, 0)
        reseed(seed)
    }

    /// Restarts the sequence from `seed`.
    public func reseed(_ seed: UInt64) {
        lock.lock(); defer { lock.unlock() }
        var z = seed
        func splitmix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// The full internal state, to save in a checkpoint and restore with `restore(state:)`.
    public var state: [UInt64] {
        lock.lock(); defer { lock.unlock() }
        return [s.0, s.1, s.2, s.3]
    }

    /// Continues from a state saved with ``state``.
    public func restore(state: [UInt64]) {
        checkArgument(state.count == 4, "generator state has 4 words, got \(state.count)")
        lock.lock(); defer { lock.unlock() }
        s = (state[0], state[1], state[2], state[3])
    }

    @inline(__always)
    private func nextUnlocked() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// The next 64 random bits.
    public func next() -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        return nextUnlocked()
    }

    /// Uniform integer in 0..<bound.
    public func nextInt(below bound: Int) -> Int {
        checkArgument(bound > 0, "nextInt(below:) needs a positive bound, got \(bound)")
        return Int(next() % UInt64(bound))
    }

    /// Fills `count` floats uniformly in [low, high).
    public func fillUniform(_ p: UnsafeMutablePointer<Float>, count: Int, low: Float = 0, high: Float = 1) {
        lock.lock(); defer { lock.unlock() }
        let scale = high - low
        for i in 0..<count {
            let u = Float(nextUnlocked() >> 40) * (1.0 / 16_777_216.0) // 24 random bits in [0, 1)
            p[i] = low + scale * u
        }
    }

    /// Fills `count` floats from N(mean, std²) (Box–Muller).
    public func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, mean: Float = 0, std: Float = 1) {
        lock.lock(); defer { lock.unlock() }
        var i = 0
        while i < count {
            let u1 = (Double(nextUnlocked() >> 11) + 1) * (1.0 / 9_007_199_254_740_993.0) // (0, 1]
            let u2 = Double(nextUnlocked() >> 11) * (1.0 / 9_007_199_254_740_992.0)
            let r = (-2 * Foundation.log(u1)).squareRoot()
            p[i] = mean + std * Float(r * Foundation.cos(2 * Double.pi * u2))
            if i + 1 < count { p[i + 1] = mean + std * Float(r * Foundation.sin(2 * Double.pi * u2)) }
            i += 2
        }
    }

    /// A random permutation of 0..<n (Fisher–Yates).
    public func permutation(_ n: Int) -> [Int] {
        var a = Array(0..<n)
        lock.lock(); defer { lock.unlock() }
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(nextUnlocked() % UInt64(i + 1))
                a.swapAt(i, j)
            }
        }
        return a
    }

    /// The generator used when none is given; `Tensor.manualSeed` reseeds it.
    public static let global = Generator(seed: 0x5EED)
}
