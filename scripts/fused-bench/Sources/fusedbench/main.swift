// Informal timing of the fused ops on the sizes of the speed targets, for comparison with
// PyTorch on the same machine (bench_torch.py prints the same lines). Not a test: numbers
// on a shared machine are noisy; each line is the best of `reps` runs, wall and CPU time.
//
//   cd scripts/fused-bench && swift build -c release && .build/release/fusedbench [prefix] [reps]
//   python3 bench_torch.py [prefix] [reps]
//
// "fb" is forward plus backward into fresh leaf gradients; note that the first gradient of
// a leaf is copied by Tensor.accumulateGrad, which PyTorch avoids.

import DinoTensor
import Foundation

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }
func cpu() -> Double { var ts = timespec(); clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6 }
func totals(_ reps: Int, _ f: () -> Void) -> (Double, Double) {
    let t = now(), c = cpu()
    for _ in 0..<reps { f() }
    return ((now() - t) / Double(reps), (cpu() - c) / Double(reps))
}
func bench(_ reps: Int, _ f: () -> Void) -> (Double, Double) {
    if ProcessInfo.processInfo.environment["TOTALS"] != nil { return totals(reps, f) }
    f(); f()
    var best = Double.infinity, bestCPU = Double.infinity
    for _ in 0..<reps { let t = now(), c = cpu(); f(); best = min(best, now() - t); bestCPU = min(bestCPU, cpu() - c) }
    return (best, bestCPU)
}
let args = CommandLine.arguments
let only = args.count > 1 ? args[1] : ""
let reps = args.count > 2 ? Int(args[2])! : 20
print("isa", FusedKernels.instructionSet)
for th in [1, 2] {
    Threads.count = th
    let x = RandomGenerator(seed: 1).normal([4096, 1024]).requiringGrad()
    let g = RandomGenerator(seed: 2).normal([4096, 1024])
    let w = RandomGenerator(seed: 3).normal([1024]).requiringGrad()
    let b = RandomGenerator(seed: 4).normal([1024]).requiringGrad()
    let q = RandomGenerator(seed: 5).normal([64, 3, 65, 64]).requiringGrad()
    let k = RandomGenerator(seed: 6).normal([64, 3, 65, 64]).requiringGrad()
    let v = RandomGenerator(seed: 7).normal([64, 3, 65, 64]).requiringGrad()
    let go = RandomGenerator(seed: 8).normal([64, 3, 65, 64])
    func clear() { x.zeroGrad(); w.zeroGrad(); b.zeroGrad(); q.zeroGrad(); k.zeroGrad(); v.zeroGrad() }
    let lnOut = x.layerNorm(weight: w, bias: b), smOut = x.softmax(), geOut = x.gelu()
    let cases: [(String, () -> Void)] = [
        ("softmax f", { _ = withNoGrad { x.softmax() } }),
        ("softmax fb", { clear(); x.softmax().backward(g) }),
        ("layernorm f", { _ = withNoGrad { x.layerNorm(weight: w, bias: b) } }),
        ("layernorm fb", { clear(); x.layerNorm(weight: w, bias: b).backward(g) }),
        ("gelu f", { _ = withNoGrad { x.gelu() } }),
        ("gelu fb", { clear(); x.gelu().backward(g) }),
        ("gelu-tanh fb", { clear(); x.gelu(approximate: .tanh).backward(g) }),
        ("layernorm b", { clear(); lnOut.backward(g, retainGraph: true) }),
        ("softmax b", { clear(); smOut.backward(g, retainGraph: true) }),
        ("gelu b", { clear(); geOut.backward(g, retainGraph: true) }),
        ("attn f", { _ = withNoGrad { Tensor.scaledDotProductAttention(query: q, key: k, value: v) } }),
        ("attn fb", { clear(); Tensor.scaledDotProductAttention(query: q, key: k, value: v).backward(go) }),
    ]
    for (name, f) in cases where only.isEmpty || name.hasPrefix(only) {
        var ru = rusage(); getrusage(Int32(RUSAGE_SELF.rawValue), &ru); let f0 = ru.ru_minflt
        let (wall, c) = bench(reps, f)
        getrusage(Int32(RUSAGE_SELF.rawValue), &ru); let faults = Double(ru.ru_minflt - f0) / Double(reps + 2)
        print(String(format: "swift threads %d %-14@ wall %8.2f ms  cpu %8.2f ms  faults/iter %.0f", th, name as NSString, wall, c, faults))
    }
}
