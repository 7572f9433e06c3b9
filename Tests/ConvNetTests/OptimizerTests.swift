import ConvNet
import Foundation
import Testing

/// Optimiser updates worked out by hand on one- and two-element parameters.
@Suite struct OptimizerTests {
    func leaf(_ values: [Float]) -> Tensor { let t = Tensor(values); t.requiresGrad = true; return t }

    @Test func sgdWithMomentumAndWeightDecay() {
        let w = leaf([1, -2])
        let opt = SGD([w], lr: 0.1, momentum: 0.9, weightDecay: 0.5)
        // step 1: g = 2w + 0.5w = 2.5w → buf = 2.5w, w −= 0.1·buf
        (w * w).sum().backward()
        opt.step()
        expectClose(w.scalars, [1 - 0.25, -2 + 0.5], tol: 1e-6)
        // step 2: g' = 2.5w₁, buf = 0.9·buf₁ + g', w −= 0.1·buf
        let w1 = w.scalars, buf1: [Float] = [2.5, -5]
        opt.zeroGrad()
        (w * w).sum().backward()
        opt.step()
        let buf2 = zip(buf1, w1).map { 0.9 * $0 + 2.5 * $1 }
        expectClose(w.scalars, zip(w1, buf2).map { $0 - 0.1 * $1 }, tol: 1e-6)
    }

    @Test func nesterovLooksAhead() {
        let w = leaf([3])
        let opt = SGD([w], lr: 0.1, momentum: 0.5, nesterov: true)
        (w * 2).sum().backward()          // g = 2 every step
        opt.step()                        // buf = 2, update g + 0.5·buf = 3
        expectClose(w.scalars, [3 - 0.3], tol: 1e-6)
        opt.step()                        // same gradient kept: buf = 0.5·2 + 2 = 3, update 2 + 1.5 = 3.5
        expectClose(w.scalars, [2.7 - 0.35], tol: 1e-6)
    }

    @Test func adamBiasCorrection() {
        // with a constant gradient g, the corrected moments are g and g² at every step,
        // so each step moves by lr·g/(|g| + eps) ≈ lr·sign(g)
        let w = leaf([1, 1])
        let opt = Adam([w], lr: 0.01)
        (w * Tensor([4, -0.5])).sum().backward()
        for step in 1...3 {
            opt.step()
            expectClose(w.scalars, [1 - 0.01 * Float(step), 1 + 0.01 * Float(step)], tol: 1e-5)
        }
    }

    @Test func adamWDecaysWeightsDecoupled() {
        // zero gradient: Adam's update is 0, AdamW still shrinks the weight by lr·wd
        let w = leaf([2])
        let opt = AdamW([w], lr: 0.1, weightDecay: 0.5)
        (w * 0).sum().backward()
        opt.step()
        expectClose(w.scalars, [2 * (1 - 0.05)], tol: 1e-6)
    }

    @Test func stateRoundTripsThroughStateDict() throws {
        let a = leaf([1, 2]), b = leaf([1, 2])
        let optA = Adam([a], lr: 0.05), optB = Adam([b], lr: 0.05)
        for _ in 0..<2 { optA.zeroGrad(); (a * a).sum().backward(); optA.step() }
        b.assign(a)
        try optB.loadStateDict(optA.stateDict())
        optA.zeroGrad(); (a * a).sum().backward(); optA.step()
        optB.zeroGrad(); (b * b).sum().backward(); optB.step()
        #expect(a.scalars == b.scalars)
        #expect(throws: OptimizerStateError.self) { try optB.loadStateDict(["0.exp_avg": Tensor([1, 2, 3])]) }
    }

    @Test func schedules() {
        #expect(abs(LRSchedule.step(stepSize: 2, gamma: 0.1).lr(base: 1, epoch: 3) - 0.1) < 1e-7)
        #expect(abs(LRSchedule.step(stepSize: 2, gamma: 0.1).lr(base: 1, epoch: 4) - 0.01) < 1e-8)
        #expect(abs(LRSchedule.cosine(totalEpochs: 10, minLR: 0).lr(base: 1, epoch: 5) - 0.5) < 1e-6)
        #expect(LRSchedule.cosine(totalEpochs: 10, minLR: 0).lr(base: 1, epoch: 0) == 1)
        #expect(abs(LRSchedule.warmupCosine(warmupEpochs: 2, totalEpochs: 10, minLR: 0).lr(base: 1, epoch: 0) - 0.5) < 1e-6)
    }
}
