import DinoModels
import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// What scripts/reference_param_counts.py recorded for one preset from the official code.
struct ReferencePreset: Decodable {
    let params: Int
    let depth: Int
    let shapes: [String: [Int]]
}

func loadReferencePresets() throws -> [String: ReferencePreset] {
    let url = try #require(Bundle.module.url(forResource: "reference_presets", withExtension: "json",
                                             subdirectory: "Fixtures"))
    return try JSONDecoder().decode([String: ReferencePreset].self, from: Data(contentsOf: url))
}

/// The block number of a key `blocks.<i>.…`, or nil.
func blockIndex(of key: String) -> Int? {
    let parts = key.split(separator: ".")
    guard parts.count > 2, parts[0] == "blocks" else { return nil }
    return Int(parts[1])
}

@Suite struct PresetTests {
    static let small = ModelPresets.names.filter { $0.hasPrefix("test_") || $0.hasPrefix("vit_") }

    @Test func everyPresetHasAReference() throws {
        let reference = try loadReferencePresets()
        #expect(Set(reference.keys) == Set(ModelPresets.names).union(ConvNeXtPresets.names))
    }

    /// Builds each preset without allocating weights and compares its parameter count and
    /// its state-dict keys and shapes (block 0 standing for all blocks) with the official code.
    @Test(arguments: ModelPresets.names)
    func parameterCountAndKeysMatchReference(name: String) throws {
        let reference = try #require(try loadReferencePresets()[name])
        let model = VisionTransformer(try ModelPresets.config(named: name))
        #expect(model.parameterCount == reference.params)
        #expect(model.blocks.count == reference.depth)
        var shapes: [String: [Int]] = [:]
        for (key, p) in model.namedTensors() {
            if blockIndex(of: key).map({ $0 > 0 }) == true { continue }
            shapes[key] = p.shape
        }
        #expect(shapes == reference.shapes)
        // Nothing was allocated to count.
        #expect(model.namedTensors().allSatisfy { !$0.1.isMaterialized })
    }

    @Test(arguments: small)
    func smallPresetsRunForwardWithoutNaN(name: String) throws {
        let config = try ModelPresets.config(named: name)
        let model = VisionTransformer(config, generator: RandomGenerator(seed: 1))
        model.initializeWeights(generator: RandomGenerator(seed: 2))
        model.eval()
        let side = config.imageSize
        let images = Sample.normal([2, 3, side, side], seed: 3)
        let features = withNoGrad { model.forwardFeatures(images) }
        let n = (side / config.patchSize) * (side / config.patchSize)
        let d = config.embedDimensions
        #expect(features.classToken.shape == [2, d])
        #expect(features.registerTokens.shape == [2, config.numRegisterTokens, d])
        #expect(features.patchTokens.shape == [2, n, d])
        #expect(features.prenorm.shape == [2, 1 + config.numRegisterTokens + n, d])
        #expect(!features.patchTokens.scalars.contains { !$0.isFinite })
        #expect(!features.classToken.scalars.contains { !$0.isFinite })
    }

    @Test func unknownPresetNamesTheKnownOnes() {
        #expect(throws: PresetError.self) { try ModelPresets.config(named: "dinov4_vits14") }
        do {
            _ = try ModelPresets.config(named: "dinov4_vits14")
        } catch {
            #expect("\(error)".contains("dinov2_vits14_reg"))
        }
    }
}
