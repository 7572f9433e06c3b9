import ConvNet
import Foundation
import Testing

@Suite struct FreezeTests {
    @Test func freezeAndUnfreezeKeepBuffers() {
        let net = ModelZoo.all.first { $0.name == "bn-lenet" }!.make()
        let params = net.namedParameters().map(\.0), buffers = net.namedBuffers().map(\.0)
        net.freeze()
        #expect(net.parameters().isEmpty)
        #expect(net.frozenParameterKeys() == params)
        #expect(net.stateDict().count == params.count + buffers.count, "frozen tensors stay in the state dict")
        net.unfreeze()
        #expect(net.namedParameters().map(\.0) == params)
        #expect(net.namedBuffers().map(\.0) == buffers, "running statistics did not become parameters")
    }

    @Test func freezeBackboneLeavesTheClassifier() {
        let net = Models.leNet(inputChannels: 1, numClasses: 10)
        let keys = net.namedParameters().map(\.0)
        let head = net.freezeBackbone()
        let trainable = net.namedParameters().map(\.0)
        #expect(trainable == keys.suffix(2) && trainable.allSatisfy { $0.hasPrefix(head + ".") }, "\(head) \(trainable)")
        net.unfreeze()
        let frozen = net.freeze(prefix: keys[0].components(separatedBy: ".")[0])
        #expect(frozen == keys.filter { $0.hasPrefix(keys[0].components(separatedBy: ".")[0] + ".") })
        #expect(net.freeze(prefix: "no.such.layer").isEmpty)
    }

    @Test func optimisersSkipFrozenParameters() {
        for make in [{ (p: [Tensor]) -> any Optimizer in SGD(p, lr: 0.1, momentum: 0.9) }, { Adam($0, lr: 0.1) }] {
            let net = Models.leNet(inputChannels: 1, numClasses: 10)
            let opt = make(net.parameters()) // built before freezing: it still holds the frozen tensors
            let first = net.namedParameters()[0].1, last = net.namedParameters().last!.1
            net.freezeBackbone()
            let before = first.scalars, lastBefore = last.scalars
            let x = Tensor.randn([2, 1, 28, 28], generator: Generator(seed: 1))
            for p in opt.parameters { p.grad = Tensor(shape: p.shape, repeating: 1) } // a stale gradient on the frozen ones too
            crossEntropy(net(x), [3, 4]).backward()
            opt.step()
            #expect(first.scalars == before, "a frozen parameter did not move")
            #expect(last.scalars != lastBefore, "the classifier trained")
        }
    }

    @Test func loadMatchingReportsLoadedSkippedMissing() {
        let source = Models.leNet(inputChannels: 1, numClasses: 10)
        var state = source.stateDict()
        state["extra.weight"] = Tensor.zeros([2])
        let target = Models.leNet(inputChannels: 1, numClasses: 5)
        let keys = target.namedTensors().map(\.0)
        let dropped = keys[0]
        state[dropped] = nil
        let r = target.loadMatching(state)
        #expect(r.missing == [dropped])
        #expect(r.skipped.map(\.key) == Array(keys.suffix(2)), "the 10-class head does not fit 5 classes")
        #expect(r.loaded == Array(keys.dropFirst().dropLast(2)))
        #expect(r.unused == ["extra.weight"])
        for k in r.loaded { #expect(target.stateDict()[k]!.scalars == source.stateDict()[k]!.scalars) }
    }
}
