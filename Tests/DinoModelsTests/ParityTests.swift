import DinoModels
import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// One case of scripts/make_model_fixtures.py: a reference model's checkpoint in its own
/// key layout, and its inputs and outputs.
struct ParityCase {
    let name: String
    let checkpoint: URL
    let io: [String: Tensor]
    let config: VisionTransformerConfig
    let layout: CheckpointLayout

    init(_ name: String) throws {
        self.name = name
        let dir = try #require(Bundle.module.url(forResource: "parity", withExtension: nil, subdirectory: "Fixtures"))
        checkpoint = dir.appendingPathComponent("\(name).safetensors")
        let file = try SafeTensors.read(from: dir.appendingPathComponent("\(name).io.safetensors"))
        io = file.tensors
        let json = try #require(file.metadata["config"])
        config = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(json))
        let layoutName = try #require(file.metadata["layout"])
        layout = try #require(CheckpointLayout(rawValue: layoutName))
    }

    /// The model built from the config with the checkpoint loaded (strict, layout detected).
    func model() throws -> VisionTransformer {
        let model = VisionTransformer(config)
        try model.loadWeights(from: checkpoint)
        model.eval()
        return model
    }

    /// Input names (tensors with no dot in their key).
    var inputs: [String] { io.keys.filter { !$0.contains(".") && $0 != "masks" }.sorted() }
}

/// Relative closeness for outputs of order 1: 1e-4 relative, 1e-5 absolute.
func close(_ actual: Tensor, _ expected: Tensor?) -> String? {
    guard let expected else { return "missing reference tensor" }
    return mismatch(actual, expected, rtol: 1e-4, atol: 1e-5)
}

@Suite struct ParityTests {
    static let cases = [
        "dino_official", "dinov2_official", "dinov2_reg_official", "dinov2_swiglu_official",
        "dinov3_official", "dinov3_swiglu_official",
        "dinov2_timm", "dinov2_reg_timm", "dinov3_timm", "dinov3_swiglu_timm",
        "dinov2_transformers", "dinov2_swiglu_transformers", "dinov2_reg_transformers", "dinov3_transformers", "dinov3_swiglu_transformers",
    ]

    @Test(arguments: cases)
    func layoutIsDetected(name: String) throws {
        let c = try ParityCase(name)
        let keys = try SafeTensors.readHeader(from: c.checkpoint).entries.map(\.name)
        #expect(CheckpointLayout.detect(keys: keys) == c.layout)
    }

    /// Class, register and patch tokens at the native size and, where the case has one, at
    /// another image size (position-embedding interpolation or RoPE on a new grid).
    @Test(arguments: cases)
    func tokensMatchReference(name: String) throws {
        let c = try ParityCase(name)
        let model = try c.model()
        #expect(!c.inputs.isEmpty)
        for input in c.inputs {
            let f = withNoGrad { model.forwardFeatures(c.io[input]!) }
            #expect(close(f.classToken, c.io["\(input).cls"]) == nil, "\(name) \(input) class token")
            #expect(close(f.patchTokens, c.io["\(input).patch"]) == nil, "\(name) \(input) patch tokens")
            if let reg = c.io["\(input).reg"] {
                #expect(close(f.registerTokens, reg) == nil, "\(name) \(input) register tokens")
            }
        }
    }

    @Test(arguments: ["dinov2_official", "dinov2_reg_official", "dinov3_official"])
    func maskedPatchesMatchReference(name: String) throws {
        let c = try ParityCase(name)
        let model = try c.model()
        let f = withNoGrad { model.forwardFeatures(c.io["native"]!, masks: c.io["masks"]!) }
        #expect(close(f.classToken, c.io["masked.cls"]) == nil)
        #expect(close(f.patchTokens, c.io["masked.patch"]) == nil)
    }

    @Test func intermediateBlocksMatchReference() throws {
        let c = try ParityCase("dinov2_official")
        let model = try c.model()
        let outs = withNoGrad { model.intermediateLayers(c.io["native"]!, last: 2) }
        for (i, out) in outs.enumerated() {
            #expect(close(out.classToken, c.io["block\(i).cls"]) == nil, "block \(i) class token")
            #expect(close(out.patchTokens, c.io["block\(i).patch"]) == nil, "block \(i) patch tokens")
        }
    }

    @Test func lastSelfAttentionMatchesReference() throws {
        let c = try ParityCase("dino_official")
        let model = try c.model()
        let attention = withNoGrad { model.lastSelfAttention(c.io["native"]!) }
        #expect(close(attention, c.io["native.attention"]) == nil)
    }

    /// Saving writes the official keys: the file reloads into a fresh model with the same outputs.
    @Test func savedWeightsReloadWithOfficialKeys() throws {
        let c = try ParityCase("dinov3_timm")
        let model = try c.model()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dino-save-\(UInt32.random(in: 0...UInt32.max)).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.saveWeights(to: url)
        let keys = Set(try SafeTensors.readHeader(from: url).entries.map(\.name))
        #expect(keys == Set(model.namedTensors().map(\.0)))
        #expect(keys.contains("storage_tokens") && keys.contains("rope_embed.periods") && keys.contains("blocks.0.attn.qkv.bias_mask"))
        #expect(try VisionTransformer.storedConfig(in: url) == c.config)
        let reloaded = VisionTransformer(c.config)
        try reloaded.loadWeights(from: url, layout: .official)
        reloaded.eval()
        let x = c.io["native"]!
        let a = withNoGrad { model.forwardFeatures(x).patchTokens }
        let b = withNoGrad { reloaded.forwardFeatures(x).patchTokens }
        #expect(a.scalars == b.scalars)
    }
}
