import ConvNetCore

/// Batch normalisation over channels, as `nn.BatchNorm1d` / `nn.BatchNorm2d`: batch statistics in
/// training (running statistics updated with `momentum`, unbiased variance), running ones in eval.
public class BatchNorm: TrainingModeModule {
    /// Channels; 0 for a lazy layer before its first forward.
    public var numFeatures: Int { runningMean?.isUninitialized == false ? runningMean!.count : 0 }
    /// Added to the variance before the square root, for stability (PyTorch's `eps`).
    public let eps: Float
    /// Weight of the new batch statistic in the running averages (PyTorch's `momentum`, default 0.1).
    public let momentum: Float
    /// Whether the layer learns a per-channel scale and shift (`weight`, `bias`).
    public let affine: Bool
    /// The learned per-channel scale γ (PyTorch's `weight`), or `nil` without `affine`.
    public private(set) var weight: Tensor?
    /// The learned per-channel shift β (PyTorch's `bias`), or `nil` without `affine`.
    public private(set) var bias: Tensor?
    /// The running mean per channel used in eval mode (PyTorch's `running_mean` buffer).
    public private(set) var runningMean: Tensor?
    /// The running variance per channel used in eval mode (PyTorch's `running_var` buffer).
    public private(set) var runningVar: Tensor?
    /// Counts training batches (PyTorch's int64 `num_batches_tracked`).
    public private(set) var numBatchesTracked: Tensor?
    public var training = true
    /// Computes the training-mode forward in place of the layer's own batch statistics, given the
    /// layer and its input (`SyncBatchNorm` sets it to gather the statistics over all ranks);
    /// nil for the ordinary layer. It must update the running statistics as the layer would.
    public var trainingForward: ((BatchNorm, Tensor) -> Tensor)?
    /// Weight of the next batch in the running averages when set; nil: `momentum`.
    /// ``updateBatchNorm(_:batches:)`` sets 1/k for the k-th batch, a plain average (PyTorch's `momentum=None`).
    var averagingMomentum: Float?
    private let _expectedRanks: [Int]

    init(_ numFeatures: Int, eps: Float, momentum: Float, affine: Bool, ranks: [Int]) {
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        _expectedRanks = ranks
        numBatchesTracked = Tensor(0)
        if numFeatures > 0 {
            if affine {
                weight = Tensor.ones([numFeatures]); weight!.requiresGrad = true
                bias = Tensor.zeros([numFeatures]); bias!.requiresGrad = true
            }
            runningMean = Tensor.zeros([numFeatures])
            runningVar = Tensor.ones([numFeatures])
        } else {
            if affine { weight = .uninitialized(requiresGrad: true); bias = .uninitialized(requiresGrad: true) }
            runningMean = .uninitialized(requiresGrad: false)
            runningVar = .uninitialized(requiresGrad: false)
        }
    }

    private func materialize(_ c: Int) {
        weight?.materialize(with: Tensor.ones([c]))
        bias?.materialize(with: Tensor.zeros([c]))
        runningMean?.materialize(with: Tensor.zeros([c]))
        runningVar?.materialize(with: Tensor.ones([c]))
    }

    /// Whether the channel count is still to be inferred.
    public var isLazy: Bool { runningMean?.isUninitialized ?? true }

    public func forward(_ x: Tensor) -> Tensor {
        checkArgument(_expectedRanks.contains(x.rank), "\(typeName): expected \(_expectedRanks.map { "\($0)D" }.joined(separator: " or ")) input (got \(x.rank)D input of shape \(x.shape))")
        if isLazy { materialize(x.shape[1]) }
        checkArgument(x.shape[1] == numFeatures, "\(typeName)(\(numFeatures)): input has \(x.shape[1]) channels (shape \(x.shape))")
        if training, let n = numBatchesTracked { OpTrace.sideEffect { n.elementPointer[0] += 1 } }
        if training, let trainingForward { return trainingForward(self, x) }
        return batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training,
                         momentum: averagingMomentum ?? momentum, eps: eps)
    }

    /// Running mean 0, running variance 1, no batches tracked: PyTorch's `reset_running_stats()`.
    public func resetRunningStats() {
        guard !isLazy else { return }
        withNoGrad {
            runningMean?.fill_(0)
            runningVar?.fill_(1)
            numBatchesTracked?.fill_(0)
        }
    }

    public var typeName: String { (isLazy ? "Lazy" : "") + String(describing: type(of: self)) }

    public var extraRepr: String {
        "\(numFeatures), eps=\(pythonFloat(eps)), momentum=\(pythonFloat(momentum)), affine=\(affine ? "True" : "False"), track_running_stats=True"
    }
}

/// Batch norm over the features of `[N, C]` or `[N, C, L]` input; PyTorch's `torch.nn.BatchNorm1d`.
public final class BatchNorm1d: BatchNorm {
    /// Batch norm over `numFeatures` features (0: lazy, inferred at the first forward).
    public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true) {
        super.init(numFeatures, eps: eps, momentum: momentum, affine: affine, ranks: [2, 3])
    }
}

/// Batch norm over the channels of NCHW input; PyTorch's `torch.nn.BatchNorm2d` (D2L 8.5).
public final class BatchNorm2d: BatchNorm {
    /// Batch norm over `numFeatures` channels (0: lazy, inferred at the first forward).
    public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true) {
        super.init(numFeatures, eps: eps, momentum: momentum, affine: affine, ranks: [4])
    }
}

/// A BatchNorm2d whose channel count is inferred at the first call (D2L's `nn.LazyBatchNorm2d`).
public func LazyBatchNorm2d(eps: Float = 1e-5, momentum: Float = 0.1) -> BatchNorm2d { BatchNorm2d(0, eps: eps, momentum: momentum) }
/// A BatchNorm1d whose feature count is inferred at the first call.
public func LazyBatchNorm1d(eps: Float = 1e-5, momentum: Float = 0.1) -> BatchNorm1d { BatchNorm1d(0, eps: eps, momentum: momentum) }
