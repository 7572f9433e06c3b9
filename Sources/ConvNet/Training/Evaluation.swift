import ConvNetCore
import ConvNetData
import ConvNetNN

/// Accuracy, mean loss and confusion matrix of a model over a loader, in eval mode without gradients.
public struct EvaluationResult: Sendable {
    public let accuracy: Double
    public let loss: Double
    public let confusion: ConfusionMatrix
}

public func evaluate(_ model: any Module, on loader: any BatchSource, numClasses: Int? = nil) -> EvaluationResult {
    let numClasses = numClasses ?? loader.classNames.count
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
            confusion.add(predictions: logits.argmax(dim: 1), labels: batch.labels)
        }
    }
    return EvaluationResult(accuracy: confusion.accuracy, loss: lossSum / Double(max(seen, 1)), confusion: confusion)
}
