import ConvNet
import Foundation
import Testing

/// Checks that `result` (an exit test's outcome) captured standard error containing `needle`.
func expectStderr(_ result: ExitTest.Result?, contains needles: String...,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    guard let result else {
        Issue.record("the exit test did not run or did not exit as expected", sourceLocation: sourceLocation)
        return
    }
    let stderr = String(decoding: result.standardErrorContent, as: UTF8.self)
    for needle in needles {
        #expect(stderr.contains(needle), "stderr does not contain \"\(needle)\":\n\(stderr.prefix(2000))",
                sourceLocation: sourceLocation)
    }
}

/// API misuse must stop the process with a PyTorch-style message that names the shapes involved.
/// Each case runs in a child process (a Swift Testing exit test).
@Suite struct MisuseTests {
    @Test func conv2dChannelMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor.zeros([1, 2, 28, 28])
            let w = Tensor.zeros([1, 3, 3, 3])
            _ = conv2d(x, w)
        }
        expectStderr(r, contains: "expected input[1, 2, 28, 28] to have 3 channels, but got 2 channels instead",
                     "weight of size [1, 3, 3, 3]")
    }

    @Test func conv2dModuleChannelMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Conv2d(3, 8, kernelSize: 3)(Tensor.zeros([2, 1, 10, 10]))
        }
        expectStderr(r, contains: "expected input[2, 1, 10, 10] to have 3 channels, but got 1 channels instead")
    }

    @Test func matmulShapeMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5]))
        }
        expectStderr(r, contains: "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")
    }

    @Test func broadcastMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
        }
        expectStderr(r, contains: "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1")
    }

    @Test func reshapeInvalidSize() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.arange(6).reshape([4, -1])
        }
        expectStderr(r, contains: "shape '[4, -1]' is invalid for input of size 6")
    }

    @Test func reshapeWrongCount() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.arange(6).reshape([4, 2])
        }
        expectStderr(r, contains: "shape '[4, 2]' is invalid for input of size 6")
    }

    @Test func crossEntropyBatchMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = crossEntropy(Tensor.zeros([4, 10]), [1, 2, 3])
        }
        expectStderr(r, contains: "Expected input batch_size (4) to match target batch_size (3)")
    }

    @Test func crossEntropyTargetOutOfBounds() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = crossEntropy(Tensor.zeros([2, 10]), [1, 10])
        }
        expectStderr(r, contains: "Target 10 is out of bounds")
    }

    @Test func linearFeatureMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Linear(4, 3)(Tensor.zeros([2, 5]))
        }
        expectStderr(r, contains: "mat1 and mat2 shapes cannot be multiplied (2x5 and 4x3)")
    }

    @Test func maxPoolPaddingTooLarge() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = maxPool2d(Tensor.zeros([1, 1, 8, 8]), kernelSize: 2, padding: 2)
        }
        expectStderr(r, contains: "pad should be at most half of effective kernel size", "kernel_size=(2, 2)")
    }

    @Test func dimensionOutOfRange() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).sum(dim: 2)
        }
        expectStderr(r, contains: "Dimension out of range (expected to be in range of [-2, 1], but got 2)")
    }

    @Test func catSizeMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = cat([Tensor.zeros([2, 3]), Tensor.zeros([2, 4])], dim: 0)
        }
        expectStderr(r, contains: "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4")
    }

    @Test func itemOnManyElements() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 2]).item()
        }
        expectStderr(r, contains: "item() needs a one-element tensor, got shape [2, 2]")
    }
}
