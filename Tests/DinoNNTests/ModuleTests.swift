import DinoNN
import DinoTensor
import DinoTestSupport
import Testing

/// A module exercising every kind of child reflection must find.
final class Toy: Module {
    @Key("cls_token") var classToken: Parameter
    let proj: Linear
    let blocks: [LayerNorm]
    let missing: LayerScale?
    let present: LayerScale?
    @Key("periods") var buffer: Parameter
    let notAChild = 3

    override init() {
        proj = Linear(2, 3)
        blocks = [LayerNorm(3), LayerNorm(3)]
        missing = nil
        present = LayerScale(3, initialValue: 0.5)
        super.init()
        classToken = Parameter(shape: [1, 1, 3], kind: .token)
        buffer = Parameter(shape: [2], kind: .buffer, fill: .constant(7))
    }
}

@Suite struct ModuleTests {
    @Test func reflectionFindsParametersWithCheckpointNames() {
        let toy = Toy()
        #expect(toy.namedTensors().map(\.0) == [
            "cls_token", "periods", "proj.weight", "proj.bias",
            "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias", "present.gamma",
        ])
        #expect(toy.namedBuffers().map(\.0) == ["periods"])
        #expect(!toy.namedParameters().map(\.0).contains("periods"))
        #expect(toy.parameterCount == 3 + 6 + 3 + 12 + 3)
        #expect(toy.namedModules().map(\.0) == ["", "proj", "blocks.0", "blocks.1", "present"])
        // Counting allocated nothing; reading a value does, with its fill.
        #expect(toy.namedTensors().allSatisfy { !$0.1.isMaterialized })
        #expect(toy.present!.gamma.value.scalars == [0.5, 0.5, 0.5])
        #expect(toy.buffer.value.scalars == [7, 7] && !toy.buffer.value.requiresGrad)
        #expect(toy.proj.weight.value.requiresGrad)
    }

    @Test func rolesAreDeclaredByTheLayers() {
        let toy = Toy()
        let kinds = Dictionary(uniqueKeysWithValues: toy.namedTensors().map { ($0.0, $0.1.kind) })
        #expect(kinds["proj.weight"] == .weight && kinds["proj.bias"] == .bias)
        #expect(kinds["blocks.0.weight"] == .normalization && kinds["present.gamma"] == .layerScale)
        let patch = PatchEmbed(patchSize: 2, dimensions: 4)
        #expect(patch.namedTensors().allSatisfy { $0.1.isPatchEmbedding })
        #expect(!toy.proj.weight.isPatchEmbedding)
    }

    @Test func trainAndEvalReachEveryModule() {
        let toy = Toy()
        #expect(toy.blocks[1].training)
        toy.eval()
        #expect(toy.namedModules().allSatisfy { !$0.1.training })
        toy.train()
        #expect(toy.present!.training)
    }

    @Test func loadReportsEveryProblemAndCopiesNothing() {
        let toy = Toy()
        var sd = Toy().stateDict()
        sd.removeValue(forKey: "proj.bias")
        sd.removeValue(forKey: "periods")
        sd["head.weight"] = Tensor.zeros([1])
        sd["blocks.1.weight"] = Tensor.zeros([4])
        sd["cls_token"] = Tensor.ones([1, 1, 3])
        do {
            try toy.load(stateDict: sd)
            Issue.record("load should fail")
        } catch let error as StateDictError {
            #expect(error.missing.sorted() == ["periods", "proj.bias"])
            #expect(error.unexpected == ["head.weight"])
            #expect(error.shapeMismatches == [.init(key: "blocks.1.weight", expected: [3], found: [4])])
            #expect(error.description.contains("blocks.1.weight: model has [3], checkpoint has [4]"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(toy.classToken.value.scalars == [0, 0, 0])
        // Not strict: missing and unexpected keys are skipped, a shape mismatch still fails.
        #expect(throws: StateDictError.self) { try toy.load(stateDict: sd, strict: false) }
        sd["blocks.1.weight"] = Tensor.full([3], 2)
        let tensor = toy.classToken.value
        #expect(throws: Never.self) { try toy.load(stateDict: sd, strict: false) }
        #expect(toy.classToken.value === tensor && tensor.scalars == [1, 1, 1])
        #expect(toy.blocks[1].weight.value.scalars == [2, 2, 2])
    }

    @Test func stateDictRoundTripsBetweenModules() throws {
        let a = Toy(), b = Toy()
        a.proj.weight.fillNormal(std: 1, generator: RandomGenerator(seed: 1))
        try b.load(stateDict: a.stateDict())
        #expect(b.proj.weight.value.scalars == a.proj.weight.value.scalars)
        #expect(b.proj.weight.value !== a.proj.weight.value)
    }

    @Test func freezeStopsGradients() {
        let toy = Toy()
        toy.freeze()
        #expect(toy.parameters().allSatisfy { !$0.value.requiresGrad })
        toy.freeze(false)
        #expect(toy.parameters().allSatisfy { $0.value.requiresGrad })
    }

    /// `cast(to:)` widens every parameter and buffer exactly, keeps a frozen one frozen and a
    /// trainable one trainable, and fills an unallocated one in the new dtype.
    @Test func castWidensEveryTensorAndKeepsFreezing() {
        let toy = Toy()
        toy.proj.weight.fillNormal(std: 1, generator: RandomGenerator(seed: 2))
        let before = toy.proj.weight.value.scalars
        toy.blocks[0].freeze()
        #expect(!toy.classToken.isMaterialized)
        toy.cast(to: .float64)
        #expect(toy.namedTensors().allSatisfy { $0.1.dtype == .float64 && $0.1.value.dtype == .float64 })
        #expect(toy.proj.weight.value.doubles == before.map(Double.init))
        #expect(toy.blocks[0].parameters().allSatisfy { !$0.value.requiresGrad })
        #expect(toy.proj.parameters().allSatisfy { $0.value.requiresGrad })
        #expect(!toy.buffer.value.requiresGrad && toy.buffer.value.doubles == [7, 7])
        #expect(toy.classToken.value.doubles == [0, 0, 0])
    }

    @Test func truncatedNormalStaysInBounds() {
        let p = Parameter(shape: [2000], kind: .weight)
        p.fillTruncatedNormal(std: 1, low: -0.5, high: 0.5, generator: RandomGenerator(seed: 3))
        let v = p.value.scalars
        #expect(v.allSatisfy { abs($0) <= 0.5 })
        #expect(Set(v).count > 1900)
    }
}
