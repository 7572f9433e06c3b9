import ConvNetCore
import Foundation

/// Updates parameters from their gradients; `zeroGrad()` then `backward()` then `step()`.
public protocol Optimizer: AnyObject {
    /// The tensors the optimiser updates.
    var parameters: [Tensor] { get }
    /// The learning rate (changed by schedules).
    var lr: Float { get set }
    /// Updates every parameter from its gradient; PyTorch's `optimizer.step()`.
    func step()
    /// Per-parameter state (momentum buffers, moments) and counters, keyed for a checkpoint.
    func stateDict() -> [String: Tensor]
    /// Restores what ``stateDict()`` saved; throws ``OptimizerStateError`` when it does not fit.
    func loadStateDict(_ state: [String: Tensor]) throws
}

extension Optimizer {
    /// Clears every parameter's gradient (PyTorch's `optimizer.zero_grad()`, which sets them to `None`).
    public func zeroGrad() { for p in parameters { p.grad = nil } }
}

/// An optimiser checkpoint that does not fit the optimiser.
public struct OptimizerStateError: Error, CustomStringConvertible {
    /// What does not fit.
    public let description: String
}

/// Stochastic gradient descent with momentum, dampening, weight decay and Nesterov, as `torch.optim.SGD`.
public final class SGD: Optimizer {
    /// The tensors the optimiser updates.
    public let parameters: [Tensor]
    public var lr: Float
    /// PyTorch's `momentum`, `dampening` and `weight_decay` (L2, added to the gradient).
    public let momentum: Float, dampening: Float, weightDecay: Float
    /// Whether momentum is Nesterov's.
    public let nesterov: Bool
    private var buffers: [Tensor?]

    /// SGD over `parameters`; PyTorch's `torch.optim.SGD(params, lr, momentum, dampening, weight_decay, nesterov)`.
    public init(_ parameters: [Tensor], lr: Float, momentum: Float = 0, dampening: Float = 0, weightDecay: Float = 0,
                nesterov: Bool = false) {
        checkArgument(lr >= 0, "Invalid learning rate: \(lr)")
        checkArgument(momentum >= 0, "Invalid momentum value: \(momentum)")
        checkArgument(weightDecay >= 0, "Invalid weight_decay value: \(weightDecay)")
        checkArgument(!nesterov || (momentum > 0 && dampening == 0), "Nesterov momentum requires a momentum and zero dampening")
        self.parameters = parameters
        self.lr = lr; self.momentum = momentum; self.dampening = dampening
        self.weightDecay = weightDecay; self.nesterov = nesterov
        buffers = Array(repeating: nil, count: parameters.count)
    }

    /// One SGD update of every parameter with a gradient, as `torch.optim.SGD.step()`.
    public func step() {
        for (i, p) in parameters.enumerated() {
            guard p.requiresGrad, let g = p.grad else { continue } // frozen parameters stay as they are
            p.markModifiedInPlace()
            let n = p.count, w = p.elementPointer, gd = g.elementPointer
            let wd = weightDecay, lr = lr, mom = momentum, damp = dampening
            if momentum == 0 {
                for j in 0..<n { w[j] -= lr * (gd[j] + wd * w[j]) }
                continue
            }
            if buffers[i] == nil {
                let b = Tensor.empty(p.shape)
                for j in 0..<n { b.elementPointer[j] = gd[j] + wd * w[j] }
                buffers[i] = b
                let bd = b.elementPointer
                for j in 0..<n { w[j] -= lr * (nesterov ? (gd[j] + wd * w[j]) + mom * bd[j] : bd[j]) }
                continue
            }
            let bd = buffers[i]!.elementPointer, nesterov = nesterov
            // ResNet-18's 11 M parameters: memory-bound, so both cores' bandwidth helps
            Threads.parallelFor(n, minPerThread: 1 << 16) { r in
                for j in r {
                    let d = gd[j] + wd * w[j]
                    bd[j] = mom * bd[j] + (1 - damp) * d
                    w[j] -= lr * (nesterov ? d + mom * bd[j] : bd[j])
                }
            }
        }
    }

    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (i, b) in buffers.enumerated() { if let b { out["\(i).momentum_buffer"] = b } }
        return out
    }

    /// Restores the momentum buffers saved by ``stateDict()``.
    public func loadStateDict(_ state: [String: Tensor]) throws {
        var nb = [Tensor?](repeating: nil, count: parameters.count)
        for (k, v) in state {
            guard k.hasSuffix(".momentum_buffer"), let i = Int(k.dropLast(".momentum_buffer".count)), parameters.indices.contains(i) else {
                throw OptimizerStateError(description: "SGD state has an unexpected key '\(k)'")
            }
            guard v.shape == parameters[i].shape else {
                throw OptimizerStateError(description: "SGD momentum buffer \(i) has shape \(v.shape), parameter has \(parameters[i].shape)")
            }
            nb[i] = v.copy()
        }
        buffers = nb
    }
}

/// Adam and AdamW (decoupled weight decay), as `torch.optim.Adam` / `AdamW`.
public class AdamBase: Optimizer {
    /// The tensors the optimiser updates.
    public let parameters: [Tensor]
    public var lr: Float
    /// PyTorch's `betas` (β1, β2), `eps` and `weight_decay`.
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    let decoupled: Bool
    private var m: [Tensor?], v: [Tensor?]
    /// Updates done so far (bias correction uses it).
    public private(set) var stepCount = 0

    init(_ parameters: [Tensor], lr: Float, betas: (Float, Float), eps: Float, weightDecay: Float, decoupled: Bool) {
        checkArgument(lr >= 0, "Invalid learning rate: \(lr)")
        checkArgument(betas.0 >= 0 && betas.0 < 1 && betas.1 >= 0 && betas.1 < 1, "Invalid beta parameters: \(betas)")
        self.parameters = parameters
        self.lr = lr; beta1 = betas.0; beta2 = betas.1; self.eps = eps; self.weightDecay = weightDecay
        self.decoupled = decoupled
        m = Array(repeating: nil, count: parameters.count)
        v = Array(repeating: nil, count: parameters.count)
    }

    /// One Adam(W) update of every parameter with a gradient, as `torch.optim.Adam.step()`.
    public func step() {
        stepCount += 1
        let bc1 = 1 - Foundation.pow(beta1, Float(stepCount)), bc2 = 1 - Foundation.pow(beta2, Float(stepCount))
        for (i, p) in parameters.enumerated() {
            guard p.requiresGrad, let g = p.grad else { continue } // frozen parameters stay as they are
            if m[i] == nil { m[i] = Tensor.zeros(p.shape); v[i] = Tensor.zeros(p.shape) }
            p.markModifiedInPlace()
            let w = p.elementPointer, gd = g.elementPointer, md = m[i]!.elementPointer, vd = v[i]!.elementPointer
            let b1 = beta1, b2 = beta2, wd = weightDecay, lr = lr, eps = eps
            let stepSize = lr / bc1, bc2s = bc2.squareRoot()
            for j in 0..<p.count {
                var d = gd[j]
                if decoupled { w[j] *= 1 - lr * wd } else { d += wd * w[j] }
                md[j] = b1 * md[j] + (1 - b1) * d
                vd[j] = b2 * vd[j] + (1 - b2) * d * d
                w[j] -= stepSize * md[j] / (vd[j].squareRoot() / bc2s + eps)
            }
        }
    }

    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(Float(stepCount))]
        for i in parameters.indices {
            if let a = m[i] { out["\(i).exp_avg"] = a }
            if let b = v[i] { out["\(i).exp_avg_sq"] = b }
        }
        return out
    }

    /// Restores the moments and step count saved by ``stateDict()``.
    public func loadStateDict(_ state: [String: Tensor]) throws {
        var nm = [Tensor?](repeating: nil, count: parameters.count), nv = nm
        for (k, t) in state {
            if k == "step" { continue }
            let parts = k.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, let i = Int(parts[0]), parameters.indices.contains(i), parameters[i].shape == t.shape else {
                throw OptimizerStateError(description: "Adam state entry '\(k)' (shape \(t.shape)) does not fit the parameters")
            }
            if parts[1] == "exp_avg" { nm[i] = t.copy() } else if parts[1] == "exp_avg_sq" { nv[i] = t.copy() } else {
                throw OptimizerStateError(description: "Adam state has an unexpected key '\(k)'")
            }
        }
        // a hand-edited or damaged count (NaN, negative, 1e30) would trap in Int(_:) or break bias correction
        let step = state["step"].map { $0.count == 1 ? $0.elementPointer[0] : -1 } ?? 0
        guard step.isFinite, step >= 0, step < 1e9, step == step.rounded() else {
            throw OptimizerStateError(description: "Adam state 'step' is \(step); expected a whole number of updates")
        }
        m = nm; v = nv
        stepCount = Int(step)
    }
}

/// Adam, with L2 weight decay added to the gradient; PyTorch's `torch.optim.Adam`.
public final class Adam: AdamBase {
    /// Adam over `parameters`; PyTorch's `torch.optim.Adam(params, lr, betas, eps, weight_decay)`.
    public init(_ parameters: [Tensor], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                weightDecay: Float = 0) {
        super.init(parameters, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: false)
    }
}

/// Adam with decoupled weight decay; PyTorch's `torch.optim.AdamW`.
public final class AdamW: AdamBase {
    /// AdamW over `parameters`; PyTorch's `torch.optim.AdamW(params, lr, betas, eps, weight_decay)` (its default decay is 0.01).
    public init(_ parameters: [Tensor], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                weightDecay: Float = 1e-2) {
        super.init(parameters, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupled: true)
    }
}
