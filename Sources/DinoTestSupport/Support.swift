// Test helpers shared by every test target: closeness of values, finite-difference
// gradient checks in Double, random inputs, fixture loading and the executables built beside
// the tests. Framework-agnostic: each helper returns a description of the first mismatch (nil
// when all is well), for tests to pass to `#expect(... == nil)`.

import DinoTensor
import Foundation

/// The first element where `actual` and `expected` differ by more than
/// `atol + rtol · |expected|`, described; nil when all are close.
public func mismatch(_ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6) -> String? {
    guard actual.count == expected.count else {
        return "counts differ: \(actual.count) vs \(expected.count)"
    }
    var worst: (index: Int, excess: Float)? = nil
    for i in 0..<actual.count {
        let a = actual[i], e = expected[i]
        if a.isNaN != e.isNaN { return "element \(i): \(a) vs \(e)" }
        if a.isNaN { continue }
        if a.isInfinite || e.isInfinite {
            if a != e { return "element \(i): \(a) vs \(e)" }
            continue
        }
        let excess = abs(a - e) - (atol + rtol * abs(e))
        if excess > 0 && excess > (worst?.excess ?? 0) { worst = (i, excess) }
    }
    if let w = worst {
        return "element \(w.index) of \(actual.count): \(actual[w.index]) vs expected \(expected[w.index]) (rtol \(rtol), atol \(atol))"
    }
    return nil
}

/// `mismatch` for two tensors, also checking shapes.
public func mismatch(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6) -> String? {
    if actual.shape != expected.shape { return "shapes differ: \(actual.shape) vs \(expected.shape)" }
    return mismatch(actual.scalars, expected.scalars, rtol: rtol, atol: atol)
}

/// Double-precision `mismatch`.
public func mismatch(doubles actual: [Double], _ expected: [Double], rtol: Double, atol: Double) -> String? {
    guard actual.count == expected.count else { return "counts differ: \(actual.count) vs \(expected.count)" }
    for i in 0..<actual.count {
        let a = actual[i], e = expected[i]
        if !(abs(a - e) <= atol + rtol * abs(e)) {
            return "element \(i) of \(actual.count): \(a) vs expected \(e) (rtol \(rtol), atol \(atol))"
        }
    }
    return nil
}

/// Checks the analytic gradients of `f` against central finite differences, in Double.
///
/// The inputs are converted to Float64 leaves. A fixed random projection `w` turns the
/// output into the scalar `L = Σ f(x) · w`, so every output element contributes. Each input
/// element is perturbed by ±`eps` and `(L(x+eps) − L(x−eps)) / 2eps` is compared with the
/// gradient from `backward()`.
///
/// - Returns: a description of the first gradient element out of tolerance, or nil.
public func gradientMismatch(_ inputs: [Tensor], eps: Double = 1e-6, rtol: Double = 1e-5, atol: Double = 1e-7,
                             seed: UInt64 = 7, _ f: ([Tensor]) -> Tensor) -> String? {
    let xs = inputs.map { $0.to(.float64).contiguousCopy().requiringGrad() }
    let y = f(xs)
    guard y.dtype == .float64 else { return "function returned \(y.dtype), not float64" }
    let w = RandomGenerator(seed: seed).uniform(y.shape, low: -1, high: 1, dtype: .float64)
    let loss = (y * w).sum()
    loss.backward()
    func lossValue() -> Double { withNoGrad { (f(xs) * w).sum().doubles[0] } }
    for (k, x) in xs.enumerated() {
        let analytic = x.grad?.doubles ?? [Double](repeating: 0, count: x.count)
        let p = x.pointer(Double.self)
        for i in 0..<x.count {
            let saved = p[i]
            p[i] = saved + eps
            let plus = lossValue()
            p[i] = saved - eps
            let minus = lossValue()
            p[i] = saved
            let numeric = (plus - minus) / (2 * eps)
            if !(abs(analytic[i] - numeric) <= atol + rtol * abs(numeric)) {
                return "input \(k) element \(i) of \(x.shape): analytic \(analytic[i]) vs numeric \(numeric)"
            }
        }
    }
    return nil
}

/// Reproducible random test inputs.
public enum Sample {
    /// Uniform values in [low, high) from `seed`.
    public static func uniform(_ shape: [Int], seed: UInt64, low: Double = -1, high: Double = 1,
                               dtype: DType = .float32) -> Tensor {
        RandomGenerator(seed: seed).uniform(shape, low: low, high: high, dtype: dtype)
    }

    /// Standard normal values from `seed`.
    public static func normal(_ shape: [Int], seed: UInt64, dtype: DType = .float32) -> Tensor {
        RandomGenerator(seed: seed).normal(shape, dtype: dtype)
    }
}

/// An executable product (e.g. `dino`) built beside the running test bundle, in the same
/// `.build/<config>` folder (test targets that list the product as a dependency get it built).
public func builtExecutable(_ name: String) -> URL {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    // The xctest bundle may be a folder (…/swift-dinoPackageTests.xctest/…); walk up to .build/<config>.
    for _ in 0..<4 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path) {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent(name)
}
