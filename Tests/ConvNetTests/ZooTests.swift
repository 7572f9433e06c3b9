import ConvNet
import Testing

@Suite struct ZooTests {
    @Test func lenetSummaryMatchesD2LShapeWalk() {
        let s = ModelSummary(Models.leNetD2L(), inputShape: [1, 1, 28, 28])
        let shapes = s.layers.map(\.outputShape)
        #expect(shapes == [[1, 6, 28, 28], [1, 6, 28, 28], [1, 6, 14, 14], [1, 16, 10, 10], [1, 16, 10, 10], [1, 16, 5, 5],
                           [1, 400], [1, 120], [1, 120], [1, 84], [1, 84], [1, 10]])
        #expect(s.totalParameters == 61_706)
        // conv1: 6·28·28·25 MACs, conv2: 16·10·10·150, then 400·120 + 120·84 + 84·10
        #expect(s.totalMACs == 6 * 784 * 25 + 16 * 100 * 150 + 400 * 120 + 120 * 84 + 84 * 10)
        #expect(s.layers[0].name == "0" && s.layers[0].type == "Conv2d" && s.layers[0].parameters == 156)
        #expect(s.description.contains("Total parameters: 61,706"))
        let hw = ModelSummary(Models.leNet(), inputShape: [2, 1, 28, 28])
        #expect(hw.totalParameters == 44_426)
        #expect(hw.layers.map(\.name) == ["conv1", "conv2", "fc1", "fc2", "fc3"])
        #expect(hw.layers.map(\.outputShape) == [[2, 6, 24, 24], [2, 16, 8, 8], [2, 120], [2, 84], [2, 10]])
        #expect(hw.activationBytes == 4 * 2 * (6 * 576 + 16 * 64 + 120 + 84 + 10))
    }

    @Test(arguments: ModelZoo.names)
    func everyModelPrintsCountsAndRuns(_ name: String) throws {
        let spec = try ModelZoo.spec(named: name)
        let model = spec.make()
        #expect(model.description.hasPrefix(model.typeName + "("))
        #expect(model.numParameters > 0)
        model.eval()
        let y = withNoGrad { model(Tensor.rand([1, 1, spec.defaults.resize, spec.defaults.resize])) }
        #expect(y.shape == [1, 10])
        #expect(y.scalars.allSatisfy { $0.isFinite })
    }

    @Test func parameterCountsOfTheZoo() throws {
        // hand-checked from the architectures (and PyTorch's counts for the same modules)
        #expect(try ModelZoo.spec(named: "resnet18").make().numParameters == 11_178_378)
        #expect(Models.bnLeNet().numParameters == 44_426 + 2 * (6 + 16 + 120 + 84))
        #expect(Models.alexNet().numParameters == 46_764_746)
        #expect(Models.vgg(channelRatio: 4).numParameters == 43_093_322)
    }

    @Test func unknownModelNamesTheKnownOnes() {
        do {
            _ = try ModelZoo.spec(named: "lenet7")
            Issue.record("an unknown model was accepted")
        } catch {
            #expect("\(error)".contains("unknown model 'lenet7'; known models: lenet, lenet-d2l, bn-lenet"))
        }
    }

    @Test func residualBlocksKeepOrChangeShape() {
        let same = Residual(3, 3)
        #expect(same(Tensor.rand([4, 3, 6, 6])).shape == [4, 3, 6, 6])
        let down = Residual(3, 6, use1x1Conv: true, strides: 2)
        #expect(down(Tensor.rand([4, 3, 6, 6])).shape == [4, 6, 3, 3])
        let next = ResNeXtBlock(32, 32, groups: 16, bottleneckMultiplier: 1)
        #expect(next(Tensor.rand([2, 32, 8, 8])).shape == [2, 32, 8, 8])
        #expect(next.conv2.groups == 2)
        let dense = DenseBlock(numConvs: 2, inChannels: 3, growthRate: 10)
        #expect(dense(Tensor.rand([4, 3, 8, 8])).shape == [4, 23, 8, 8])
        #expect(Inception(192, 64, (96, 128), (16, 32), 32)(Tensor.rand([1, 192, 12, 12])).shape == [1, 256, 12, 12])
    }
}
