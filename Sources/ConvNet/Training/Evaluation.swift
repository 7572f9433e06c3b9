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
