// `dino eval report` on a tiny run (the dinov2 fixture run, test_dinov2) with the committed
// evaluation fixtures, and `dino eval compare` of its report with an edited copy.

@testable import dino
import DinoEval
import Foundation
import Testing

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let evalFixtures = repository.appendingPathComponent("Tests/DinoEvalTests/Fixtures")

@Suite struct EvalReportTests {
    @Test func reportRunsTheSuiteAndCompareReadsIt() throws {
        let run = try TrainArgumentTests.folder(copying: "dinov2")
        defer { try? FileManager.default.removeItem(at: run) }
        let glyphs = repository.appendingPathComponent("data/glyphs-mini").path
        let ade = evalFixtures.appendingPathComponent("ade20k").path
        let nyu = evalFixtures.appendingPathComponent("depth-nyu").path
        try EvalReport.parse([
            "--run", run.path, "--suite", "knn,linear,segmentation,depth,video",
            "--data-train", "\(glyphs)/train", "--data-val", "\(glyphs)/val",
            "--data-seg-train", "\(ade)/images/training", "--data-seg-val", "\(ade)/images/validation", "--data-masks", "\(ade)/annotations",
            "--segmentation-recipe", "dinov3", "--segmentation-iterations", "4", "--reduce-zero-label",
            "--data-depth-train", "\(nyu)/images/train", "--data-depth-val", "\(nyu)/images/val", "--data-depth", "\(nyu)/depth",
            "--data-videos", evalFixtures.appendingPathComponent("davis").path,
            "--linear-epochs", "1", "--depth-epochs", "1", "--max-depth", "16",
        ]).run()
        let dir = run.appendingPathComponent("eval")
        let report = try EvaluationReport.read(dir.appendingPathComponent("report.json"))
        #expect(report.sections.map(\.name) == ["knn", "linear", "segmentation", "depth", "video"])
        #expect(report.sections.allSatisfy { !$0.metrics.isEmpty && $0.metrics.allSatisfy { $0.value.isFinite } })
        #expect(report.sections[1].setting.contains("augmented"))
        #expect(report.sections[3].baselines.count == 3 && report.sections[4].baselines.first?.name == "J&F")
        for section in report.sections {
            for p in section.pictures { #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(p).path), "\(p)") }
        }
        #expect(report.sections[2].pictures == ["segmentation.png"] && report.sections[3].pictures == ["depth.png"]
                && !report.sections[4].pictures.isEmpty)
        let md = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(md.contains("| knn | top-1 |") && md.contains("| video | J&F |"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("linear.json").path))

        // A second report with a better k-NN: compare writes the table and the JSON with the change.
        var other = report
        other.run = "other"
        other.sections[0].metrics[0].value += 10
        let otherDir = run.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: otherDir, withIntermediateDirectories: true)
        try other.json().write(to: otherDir.appendingPathComponent("report.json"))
        let out = run.appendingPathComponent("compare")
        try EvalCompare.parse([run.path, otherDir.appendingPathComponent("report.json").path, "--out", out.path]).run()
        let comparison = try JSONDecoder().decode(EvaluationComparison.self, from: Data(contentsOf: out.appendingPathComponent("compare.json")))
        #expect(comparison.rows.first?.evaluation == "knn" && comparison.rows.first?.delta == 10 && comparison.rows.first?.better == true)
        #expect(comparison.rows.dropFirst().allSatisfy { $0.delta == 0 })
        #expect(try String(contentsOf: out.appendingPathComponent("compare.md"), encoding: .utf8).contains("+10.00 ▲"))
        // A suite whose data is missing is refused before anything runs.
        #expect(throws: Error.self) { try EvalReport.parse(["--run", run.path, "--suite", "depth"]).run() }
    }
}
