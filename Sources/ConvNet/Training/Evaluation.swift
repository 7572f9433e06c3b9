import ConvNetCore
import ConvNetData
import ConvNetNN

/// Accuracy, mean loss and confusion matrix of a model over a loader, in eval mode without gradients.
public struct EvaluationResult: Sendable {
    /// The fraction of examples classified correctly (D2L's `evaluate_accuracy`).
    public let accuracy: Double
    /// The mean cross-entropy per example.
    public let loss: Double
    /// Counts of (true class, predicted class).
    public let confusion: ConfusionMatrix
}

/// Accuracy, mean cross-entropy and confusion matrix of `model` over one pass of `loader` (an IDX
/// `DataLoader` or an `ImageFolderLoader`), in eval mode without gradients (D2L's `evaluate_accuracy_gpu`).
public func evaluate(_ model: any Module, on loader: any BatchSource, numClasses: Int? = nil) -> EvaluationResult {
    let numClasses = numClasses ?? loader.classNames.count
    let model = compile(model)
    let wasTraining = model.training
    model.eval()
    defer { model.train(wasTraining) }
    var confusion = ConfusionMatrix(numClasses: numClasses)
    var lossSum = 0.0, seen = 0
    withNoGrad {
        for batch in AnySequence({ loader.epoch() }) {
            let logits = model(batch.images)
            lossSum += Double(crossEntropy(logits, batch.labels).item()) * Double(batch.labels.count)
            seen += batch.labels.count
            confusion.add(predictions: logits.argmax(dim: 1).integers, labels: batch.labels)
        }
    }
    return EvaluationResult(accuracy: confusion.accuracy, loss: lossSum / Double(max(seen, 1)), confusion: confusion)
}

/// ``evaluate(_:on:numClasses:)`` split over the ranks of `group`: each rank evaluates its
/// contiguous share of the loader's examples, and the confusion counts and loss sums are added up,
/// so every rank gets the result of evaluating the whole set (counts exactly; the loss up to the
/// order of the additions). With one process it is the plain evaluation.
public func evaluate(_ model: any Module, on loader: any BatchSource, numClasses: Int? = nil, group: ProcessGroup) -> EvaluationResult {
    guard group.isDistributed else { return evaluate(model, on: loader, numClasses: numClasses) }
    let numClasses = numClasses ?? loader.classNames.count
    let model = compile(model)
    let wasTraining = model.training
    model.eval()
    defer { model.train(wasTraining) }
    let order = loader.epochOrder()
    let share = Array(order[DistributedSampler.evaluationShard(count: order.count, rank: group.rank, size: group.size)])
    var confusion = ConfusionMatrix(numClasses: numClasses)
    var lossSum = 0.0, seen = 0
    if !share.isEmpty {
        withNoGrad {
            for batch in AnySequence({ loader.batchIterator(order: share, from: 0) }) {
                let logits = model(batch.images)
                lossSum += Double(crossEntropy(logits, batch.labels).item()) * Double(batch.labels.count)
                seen += batch.labels.count
                confusion.add(predictions: logits.argmax(dim: 1).integers, labels: batch.labels)
            }
        }
    }
    // counts stay exact as doubles up to 2^53
    let sums = group.allReduceSum([lossSum, Double(seen)] + confusion.counts.joined().map(Double.init))
    let counts = (0..<numClasses).map { row in (0..<numClasses).map { Int(sums[2 + row * numClasses + $0]) } }
    return EvaluationResult(accuracy: ConfusionMatrix(counts: counts).accuracy, loss: sums[0] / Swift.max(sums[1], 1),
                            confusion: ConfusionMatrix(counts: counts))
}
