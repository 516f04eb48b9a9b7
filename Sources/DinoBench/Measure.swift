// Timing and reporting for benchmarks: a case is a named closure with a nominal amount of work
// (floating-point operations or bytes moved); `measure` runs it after warm-up a number of
// times and keeps the median, which stays put on a noisy, shared machine where the mean and
// the minimum do not. Nothing here knows which ops are timed (see OpsBenchmark.swift).

import DinoTensor
import Foundation

/// The nominal work of one run of a case, from which a rate is derived.
public enum BenchWork: Sendable, Equatable {
    /// Floating-point operations (a multiply-add counts 2); reported as GFLOP/s.
    case flops(Double)
    /// Bytes read and written at the least; reported as GB/s.
    case bytes(Double)
}

/// One thing to time.
public struct BenchCase {
    /// Stable identifier, shared with the PyTorch peer (`scripts/bench_ops_torch.py`).
    public let name: String
    /// What is computed, for people: shapes and layout.
    public let detail: String
    /// Work of one run.
    public let work: BenchWork
    /// Builds the inputs (untimed) and returns the timed body.
    public let prepare: () -> () -> Void

    public init(name: String, detail: String, work: BenchWork, prepare: @escaping () -> () -> Void) {
        self.name = name
        self.detail = detail
        self.work = work
        self.prepare = prepare
    }
}

/// The timing of one case with one thread count.
public struct BenchResult: Sendable, Equatable {
    public let name: String
    public let detail: String
    public let threads: Int
    public let work: BenchWork
    /// Median wall time of one run, in seconds.
    public let seconds: Double
    /// Number of timed runs the median is taken over.
    public let repeats: Int

    public init(name: String, detail: String, threads: Int, work: BenchWork, seconds: Double, repeats: Int) {
        self.name = name
        self.detail = detail
        self.threads = threads
        self.work = work
        self.seconds = seconds
        self.repeats = repeats
    }

    /// Work divided by the median time, in GFLOP/s or GB/s (10⁹ per second).
    public var rate: Double {
        switch work {
        case .flops(let f), .bytes(let f): return f / seconds / 1e9
        }
    }

    /// The unit of `rate`: "GFLOP/s" or "GB/s".
    public var unit: String {
        if case .flops = work { return "GFLOP/s" }
        return "GB/s"
    }

    /// One JSON object on one line: `{"name":…,"threads":…,"ms":…,"gflops"|"gbps":…,"repeats":…}`.
    public var jsonLine: String { jsonLine(peak: nil) }

    /// The rate as a fraction of `peak` (GFLOP/s, `dino bench peak`) for FLOP cases; nil for
    /// byte cases or without a peak.
    public func fractionOfPeak(_ peak: Double?) -> Double? {
        guard case .flops = work, let peak, peak > 0 else { return nil }
        return rate / peak
    }

    /// As `jsonLine`, with `"peak_fraction"` (rate / peak) added for FLOP cases when `peak` is given.
    public func jsonLine(peak: Double?) -> String {
        let key = if case .flops = work { "gflops" } else { "gbps" }
        let fraction = fractionOfPeak(peak).map { ",\"peak_fraction\":\(format($0, 4))" } ?? ""
        return "{\"name\":\"\(name)\",\"threads\":\(threads),\"ms\":\(format(seconds * 1e3, 4)),"
            + "\"\(key)\":\(format(rate, 3))\(fraction),\"repeats\":\(repeats)}"
    }
}

/// The median of `values` (the mean of the middle two for an even count).
public func median(_ values: [Double]) -> Double {
    precondition(!values.isEmpty, "median: no values")
    let s = values.sorted()
    let mid = s.count / 2
    return s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/// Times `benchCase` with `threads` threads: builds its inputs, runs it `warmup` times untimed,
/// then `repeats` times timed, and returns the median.
public func measure(_ benchCase: BenchCase, threads: Int, warmup: Int, repeats: Int) -> BenchResult {
    precondition(repeats >= 1 && warmup >= 0, "measure: repeats ≥ 1 and warmup ≥ 0, got \(repeats), \(warmup)")
    // The process-wide setting, so that OpenBLAS's pool (Float64 products) follows it too.
    let saved = Threads.count
    Threads.count = threads
    defer { Threads.count = saved }
    return Threads.with(threads) {
        let body = benchCase.prepare()
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        times.reserveCapacity(repeats)
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return BenchResult(name: benchCase.name, detail: benchCase.detail, threads: threads,
                           work: benchCase.work, seconds: median(times), repeats: repeats)
    }
}

/// Fixed-width table rows, printable one at a time as results come: name, threads, median ms,
/// rate and unit, detail. `nameWidth` is the width of the name column.
public enum BenchTable {
    /// The header line; with `peak`, a "peak" column (the rate as a percentage of the
    /// measured Float32 peak of the same thread count, `dino bench peak`).
    public static func header(nameWidth: Int, peak: Bool = false) -> String {
        pad("name", nameWidth) + "  thr   time ms        rate  unit    " + (peak ? "   peak" : "") + "  what"
    }

    /// One result as a line under `header`; `peak` (GFLOP/s) fills the peak column when the
    /// header has it (pass `.some(nil)` for a blank cell).
    public static func row(_ r: BenchResult, nameWidth: Int, peak: Double?? = nil) -> String {
        var cell = ""
        if let peak { cell = " " + padLeft(r.fractionOfPeak(peak).map { format($0 * 100, 1) + "%" } ?? "", 6) }
        return pad(r.name, nameWidth) + "  " + padLeft(String(r.threads), 3) + "  "
            + padLeft(format(r.seconds * 1e3, 3), 8) + "  " + padLeft(format(r.rate, 1), 10)
            + "  " + pad(r.unit, 8) + cell + "  " + r.detail
    }
}

func format(_ x: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", x) }
func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
func padLeft(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
