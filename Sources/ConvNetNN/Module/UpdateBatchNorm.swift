import ConvNetCore

/// Recomputes every batch-norm layer's running statistics as the plain average of the statistics of
/// `batches`, with the weights as they are now: PyTorch's `torch.optim.swa_utils.update_bn`.
///
/// In training, the running statistics are an exponential average (momentum 0.1) over the last few
/// dozen batches, taken while the weights were still moving; at a constant learning rate they can
/// lag the final weights enough to cost test accuracy (D2L's DenseNet on Fashion-MNIST: 0.861 with
/// the running statistics left by training, 0.907 recomputed over 100 training batches). Each layer's
/// momentum, mode and training hook are restored afterwards; returns the number of batches used.
@discardableResult
public func updateBatchNorm(_ model: any Module, batches: some Sequence<Tensor>) -> Int {
    // the module itself, not a compiled wrapper: the averaging changes each layer's momentum per batch
    let model = (model as? CompiledModule)?.module ?? model
    let layers = model.modules().compactMap { $0 as? BatchNorm }
    guard !layers.isEmpty else { return 0 }
    let wasTraining = model.training
    let hooks = layers.map(\.trainingForward)
    defer {
        for (layer, hook) in zip(layers, hooks) { layer.averagingMomentum = nil; layer.trainingForward = hook }
        model.train(wasTraining)
    }
    for layer in layers { layer.resetRunningStats(); layer.trainingForward = nil }
    model.train()
    var count = 0
    withNoGrad {
        for batch in batches {
            count += 1
            for layer in layers { layer.averagingMomentum = 1 / Float(count) }
            _ = model(batch)
        }
    }
    return count
}
