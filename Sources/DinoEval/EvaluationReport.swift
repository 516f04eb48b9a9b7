// The evaluation report of a run: what `dino eval report` measured (one section per evaluation of
// the suite: k-NN, linear, segmentation, depth, video), written as report.json and report.md, and
// the side-by-side comparison of two reports that `dino eval compare` prints.
//
// What it is: plain data and its rendering; the evaluations themselves live in their own files
// and the command (Sources/dino/EvalReportCommand.swift) runs them.

import Foundation

/// One number of a report.
public struct EvaluationMetric: Codable, Equatable, Sendable {
    public var name: String
    public var value: Double
    /// Whether larger is better (top-1, mIoU, δ1, J&F) or smaller (RMSE, abs rel).
    public var higherIsBetter: Bool
    /// "%", "m" or "" (printed after the value).
    public var unit: String

    /// A metric (a percentage that grows with quality by default).
    public init(_ name: String, _ value: Double, higherIsBetter: Bool = true, unit: String = "%") {
        self.name = name; self.value = value; self.higherIsBetter = higherIsBetter; self.unit = unit
    }

    enum CodingKeys: String, CodingKey { case name, value, unit, higherIsBetter = "higher_is_better" }
}

/// The result of one evaluation of the suite.
public struct EvaluationReportSection: Codable, Equatable, Sendable {
    /// "knn", "linear", "segmentation", "depth", "video".
    public var name: String
    /// What was run, in words (protocol, recipe, data, epochs).
    public var setting: String
    public var metrics: [EvaluationMetric]
    /// Trivial baselines measured beside (mean depth, copying the first mask).
    public var baselines: [EvaluationMetric]
    /// Pictures written, relative to the report's folder.
    public var pictures: [String]
    /// Wall-clock seconds of the evaluation.
    public var seconds: Double

    /// A section; `seconds` is usually filled in by whoever timed the evaluation.
    public init(name: String, setting: String, metrics: [EvaluationMetric], baselines: [EvaluationMetric] = [],
                pictures: [String] = [], seconds: Double) {
        self.name = name; self.setting = setting; self.metrics = metrics; self.baselines = baselines
        self.pictures = pictures; self.seconds = seconds
    }
}

/// Everything `dino eval report` measured on one backbone.
public struct EvaluationReport: Codable, Equatable, Sendable {
    /// The run folder (or weights) evaluated.
    public var run: String
    /// Backbone: width, depth, patch size, input size.
    public var backbone: String
    /// ISO 8601 time the report was written.
    public var created: String
    public var sections: [EvaluationReportSection]

    /// A report of `sections`, in the order they ran.
    public init(run: String, backbone: String, created: String, sections: [EvaluationReportSection]) {
        self.run = run; self.backbone = backbone; self.created = created; self.sections = sections
    }

    /// Reads report.json.
    ///
    /// - Throws: `DecodingError` or a file error naming `url`.
    public static func read(_ url: URL) throws -> EvaluationReport {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "\(url.path): cannot read the report (\(error.localizedDescription)); run `dino eval report` first"])
        }
        return try JSONDecoder().decode(EvaluationReport.self, from: data)
    }

    /// The report as pretty, key-sorted JSON.
    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try e.encode(self)
    }

    /// The report as Markdown: one table row per metric, the setting and pictures of each section.
    public var markdown: String {
        var lines = ["# Evaluation report", "", "- run: `\(run)`", "- backbone: \(backbone)", "- written: \(created)", "",
                     "| evaluation | metric | value | baseline |", "| --- | --- | ---: | ---: |"]
        for s in sections {
            let baselines = Dictionary(s.baselines.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for m in s.metrics {
                lines.append("| \(s.name) | \(m.name) | \(m.formatted) | \(baselines[m.name]?.formatted ?? "") |")
            }
        }
        lines.append("")
        for s in sections {
            lines.append("## \(s.name)")
            lines.append("")
            lines.append("\(s.setting) (\(String(format: "%.1f", s.seconds)) s)")
            for p in s.pictures { lines.append(""); lines.append("![\(s.name)](\(p))") }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }
}

extension EvaluationMetric {
    /// The value as the tables print it: percentages with 2 decimals, others with 4 and their unit.
    public var formatted: String {
        unit == "%" ? String(format: "%.2f", value) : String(format: "%.4f", value) + (unit.isEmpty ? "" : " \(unit)")
    }
}

/// Two reports side by side: every metric of either, with the second's change.
public struct EvaluationComparison: Codable, Equatable, Sendable {
    /// One metric of either report.
    public struct Row: Codable, Equatable, Sendable {
        /// Section ("knn", "depth", …) and metric name.
        public var evaluation: String
        public var metric: String
        /// The metric in the first and the second report (nil where a report lacks it).
        public var first: Double?
        public var second: Double?
        /// second − first (nil when either is missing).
        public var delta: Double?
        /// Whether the change is an improvement (nil when no change or either is missing).
        public var better: Bool?
        /// "%", "m" or "".
        public var unit: String
        enum CodingKeys: String, CodingKey { case evaluation, metric, first, second, delta, better, unit }
    }
    /// The two reports' runs.
    public var first: String
    public var second: String
    /// Every metric of either report.
    public var rows: [Row]

    /// Matches metrics by (evaluation, metric name), in the first report's order, then the second's new ones.
    public init(_ a: EvaluationReport, _ b: EvaluationReport) {
        first = a.run
        second = b.run
        func index(_ r: EvaluationReport) -> [(String, EvaluationMetric)] { r.sections.flatMap { s in s.metrics.map { (s.name, $0) } } }
        let ia = index(a), ib = index(b)
        var keys: [String] = [], seen = Set<String>()
        var info: [String: (String, EvaluationMetric)] = [:]
        for (s, m) in ia + ib where seen.insert("\(s)\u{1}\(m.name)").inserted {
            keys.append("\(s)\u{1}\(m.name)")
            info["\(s)\u{1}\(m.name)"] = (s, m)
        }
        let va = Dictionary(ia.map { ("\($0.0)\u{1}\($0.1.name)", $0.1.value) }, uniquingKeysWith: { x, _ in x })
        let vb = Dictionary(ib.map { ("\($0.0)\u{1}\($0.1.name)", $0.1.value) }, uniquingKeysWith: { x, _ in x })
        rows = keys.map { k in
            let (s, m) = info[k]!
            let x = va[k], y = vb[k]
            let d = x.flatMap { x in y.map { $0 - x } }
            let better = d.flatMap { $0 == 0 ? nil : (($0 > 0) == m.higherIsBetter) }
            return Row(evaluation: s, metric: m.name, first: x, second: y, delta: d, better: better, unit: m.unit)
        }
    }

    /// The table: both values and the change, ▲ where the second is better, ▼ where worse.
    public var markdown: String {
        var lines = ["| evaluation | metric | `\(first)` | `\(second)` | Δ |", "| --- | --- | ---: | ---: | ---: |"]
        func cell(_ v: Double?, _ unit: String) -> String {
            guard let v else { return "—" }
            return unit == "%" ? String(format: "%.2f", v) : String(format: "%.4f", v)
        }
        for r in rows {
            let sign = r.delta.map { $0 >= 0 ? "+" : "" } ?? ""
            let mark = r.better.map { $0 ? " ▲" : " ▼" } ?? ""
            lines.append("| \(r.evaluation) | \(r.metric)\(r.unit == "%" || r.unit.isEmpty ? "" : " (\(r.unit))") | \(cell(r.first, r.unit)) | \(cell(r.second, r.unit)) | "
                         + (r.delta.map { sign + cell($0, r.unit) } ?? "—") + mark + " |")
        }
        return lines.joined(separator: "\n")
    }
}
