// `dino bench models`: one JSON line per preset, the ViTs' and the DINOv3 ConvNeXts'; an unknown
// name is refused with both families' names.

import DinoTestSupport
import Foundation
import Testing

@Suite struct BenchModelsCLITests {
    /// Runs `dino bench models ARGS`; its exit status, stdout and stderr.
    static func bench(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = builtExecutable("dino")
        p.arguments = ["bench", "models"] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, stdout, stderr)
    }

    @Test func timesAViTAndAConvNeXtAndRefusesAnUnknownName() throws {
        let run = try Self.bench(["--models", "test_dino,test_convnext", "--image-size", "64", "--batch-size", "2",
                                  "--repeats", "1", "--warmup", "0", "--threads", "1"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(lines.map { $0["model"] as? String } == ["test_dino", "test_convnext"])
        #expect(lines.allSatisfy { ($0["images_per_s"] as? Double ?? 0) > 0 && $0["image_size"] as? Int == 64 })

        let unknown = try Self.bench(["--models", "convnext_tinyy", "--repeats", "1", "--warmup", "0"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("unknown model preset 'convnext_tinyy'") && unknown.stderr.contains("convnext_tiny,")
                && unknown.stderr.contains("dinov2_vits14"), "\(unknown.stderr)")
    }
}
