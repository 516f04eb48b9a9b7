// `--precision` on `dino embed` and `dino eval`: parsed into DinoTensor's Precision, a bad
// value rejected, float64 (a training precision) refused, and the evaluations that do not apply
// it refuse bf16.

@testable import dino
import DinoTensor
import Testing

@Suite struct PrecisionArgumentTests {
    @Test func embedAndEvalParsePrecision() throws {
        let embed = ["--model", "vit_tiny", "--random-init", "--data", "D", "--out", "o.safetensors"]
        #expect(try EmbedCommand.parse(embed).precision == .float32)
        #expect(try EmbedCommand.parse(embed + ["--precision", "bf16"]).precision == .bf16)
        #expect(throws: (any Error).self) { try EmbedCommand.parse(embed + ["--precision", "fp16"]) }
        // float64 is a training precision: embed and eval refuse it.
        #expect(throws: (any Error).self) { try EmbedCommand.parse(embed + ["--precision", "float64"]) }
        #expect(throws: (any Error).self) { try EvalKNN.parse(["--train", "T", "--val", "V", "--model", "m", "--precision", "float64"]) }
        let knn = try EvalKNN.parse(["--train", "T", "--val", "V", "--model", "m", "--precision", "bf16"])
        #expect(knn.source.backboneOptions.precision == .bf16)
        #expect(throws: (any Error).self) { try knn.source.backboneOptions.requireFloat32("segmentation") }
        let plain = try EvalKNN.parse(["--train", "T", "--val", "V", "--model", "m"])
        try plain.source.backboneOptions.requireFloat32("segmentation")
    }
}
