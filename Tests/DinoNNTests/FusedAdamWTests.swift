// The vectorised AdamW update (CDinoKernels/adamw.c, FusedKernels.adamWUpdate) against the Swift
// element loop it replaces for Float32 (AdamW.kernel, which the torch fixtures of AdamWTests
// check): the same bits on every instruction set, with and without weight decay, over sizes that
// leave partial vectors and sizes that split across threads.

@testable import DinoNN
import DinoTensor
import Foundation
import Testing

@Suite struct FusedAdamWTests {
    static func state(_ n: Int, seed: UInt64) -> (p: Tensor, g: Tensor, m: Tensor, v: Tensor) {
        let r = RandomGenerator(seed: seed)
        let p = r.normal([n]), g = r.normal([n], std: 3)
        // Moments as after some steps: m of either sign, v ≥ 0 with a wide range (some exact zeros).
        let m = r.normal([n], std: 0.1)
        let v = (r.normal([n]) * r.normal([n], std: 0.01)).abs() * r.bernoulli([n], p: 0.9)
        return (p, g, m, v)
    }

    static func copy(_ t: Tensor) -> Tensor { Tensor(t.scalars, shape: t.shape) }

    @Test(arguments: [1, 15, 16, 17, 33, 1000, 100_003])
    func fusedUpdateEqualsTheElementLoopBitForBit(n: Int) {
        for decay in [nil, 0.9995] as [Double?] {
            for step in [1.0, 7.0] {
                let lr = 1e-3, b1 = 0.9, b2 = 0.999
                let s = AdamW.Scalars(decay: decay, lerpWeight: 1 - b1, beta2: b2, oneMinusBeta2: 1 - b2,
                                      stepSize: lr / (1 - pow(b1, step)), biasCorrection2Sqrt: pow(1 - pow(b2, step), 0.5),
                                      eps: 1e-8)
                let (p, g, m, v) = Self.state(n, seed: UInt64(n))
                let (rp, rm, rv) = (Self.copy(p), Self.copy(m), Self.copy(v))
                AdamW.kernel(Float.self, rp, g, rm, rv, s)
                for isa in FusedKernels.supportedInstructionSets {
                    let (fp, fm, fv) = (Self.copy(p), Self.copy(m), Self.copy(v))
                    let saved = FusedKernels.instructionSet
                    // Other threads of parallelFor keep the widest variant: one thread for the narrower ones.
                    Threads.with(isa == FusedKernels.supportedInstructionSets[0] ? Threads.count : 1) {
                        FusedKernels.use(instructionSet: isa)
                        FusedKernels.adamWUpdate(param: fp, grad: g, expAvg: fm, expAvgSq: fv, decay: decay.map(Float.init),
                                                 lerpWeight: Float(s.lerpWeight), beta2: Float(s.beta2),
                                                 oneMinusBeta2: Float(s.oneMinusBeta2), negativeStepSize: Float(-s.stepSize),
                                                 biasCorrection2Sqrt: Float(s.biasCorrection2Sqrt), eps: Float(s.eps))
                        FusedKernels.use(instructionSet: saved)
                    }
                    let same = { (a: Tensor, b: Tensor) in a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern) }
                    #expect(same(fp, rp) && same(fm, rm) && same(fv, rv), "n \(n), \(isa), decay \(String(describing: decay)), step \(step)")
                }
                #expect(rp.scalars != p.scalars, "the update moved the parameters")
            }
        }
    }
}
