import DinoEval
import Foundation
import Testing

/// The report of `dino eval report` and the comparison of `dino eval compare`.
@Suite struct EvaluationReportTests {
    static func report(_ run: String, top1: Double, rmse: Double, video: Bool) -> EvaluationReport {
        var sections = [
            EvaluationReportSection(name: "knn", setting: "k-NN", metrics: [.init("top-1", top1), .init("top-5", 90)], seconds: 1),
            EvaluationReportSection(name: "depth", setting: "lin.4", metrics: [.init("RMSE", rmse, higherIsBetter: false, unit: "m")],
                                    baselines: [.init("RMSE", 2.25, higherIsBetter: false, unit: "m")], pictures: ["depth.png"], seconds: 2),
        ]
        if video { sections.append(EvaluationReportSection(name: "video", setting: "propagation", metrics: [.init("J&F", 44.7)], seconds: 3)) }
        return EvaluationReport(run: run, backbone: "32 wide", created: "2026-12-06T10:00:00Z", sections: sections)
    }

    @Test func comparisonGivesDeltasAndWhichWayIsBetter() throws {
        let a = Self.report("runs/a", top1: 40, rmse: 2.0, video: true)
        let b = Self.report("runs/b", top1: 45.5, rmse: 2.1, video: false)
        let c = EvaluationComparison(a, b)
        #expect(c.rows.map(\.metric) == ["top-1", "top-5", "RMSE", "J&F"])
        #expect(c.rows[0].delta == 5.5 && c.rows[0].better == true)
        #expect(c.rows[1].delta == 0 && c.rows[1].better == nil)
        // Lower RMSE is better: 2.1 after 2.0 is worse.
        #expect(abs(c.rows[2].delta! - 0.1) < 1e-12 && c.rows[2].better == false)
        #expect(c.rows[3].first == 44.7 && c.rows[3].second == nil && c.rows[3].delta == nil)
        let md = c.markdown
        #expect(md.contains("| knn | top-1 | 40.00 | 45.50 | +5.50 ▲ |"), "\(md)")
        #expect(md.contains("| depth | RMSE (m) | 2.0000 | 2.1000 | +0.1000 ▼ |"), "\(md)")
        #expect(md.contains("| video | J&F | 44.70 | — | — |"), "\(md)")
    }

    @Test func reportRoundTripsAndRendersBaselinesAndPictures() throws {
        let r = Self.report("runs/a", top1: 40, rmse: 2.0, video: true)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try r.json().write(to: url)
        #expect(try EvaluationReport.read(url) == r)
        #expect(String(decoding: try r.json(), as: UTF8.self).contains("\"higher_is_better\" : false"))
        let md = r.markdown
        #expect(md.contains("| depth | RMSE | 2.0000 m | 2.2500 m |"), "\(md)")
        #expect(md.contains("![depth](depth.png)"))
        #expect(throws: Error.self) { try EvaluationReport.read(url.appendingPathExtension("missing")) }
    }
}
