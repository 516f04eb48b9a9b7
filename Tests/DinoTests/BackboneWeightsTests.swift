// Backbone loading weights in the reference's own layout (no architecture stored): the file is
// written with the lower modules here, read back through `import Dino`'s `Backbone`.

import Dino
import DinoModels
import DinoTensor
import Foundation
import Testing

@Suite struct BackboneWeightsTests {
    @Test func officialKeysWithoutAStoredArchitectureNeedAPreset() throws {
        let dir = temporaryFolder("official")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = try DinoModels.VisionTransformer.load(preset: "test_dinov3", weights: nil, seed: 5)
        let file = dir.appendingPathComponent("hub.safetensors")
        try SafeTensors.write(reference.stateDict(), metadata: [:], to: file)   // hub keys, no config

        let x = Tensor.ones([2, 3, 32, 32])
        let expected = withNoGrad { reference.forwardFeatures(x).classToken.scalars }
        for layout in [nil, WeightsLayout.official] {
            let backbone = try Backbone(preset: "test_dinov3", weights: file, layout: layout)
            #expect(backbone.tokens(x).classToken.scalars == expected)
        }
        do {
            _ = try Backbone(weights: file)
            Issue.record("a file without an architecture loaded without a preset")
        } catch {
            #expect("\(error)".contains("preset") && "\(error)".contains("test_dinov3"))
        }
        #expect(throws: (any Error).self) { try Backbone(preset: "test_dino", weights: file) }   // wrong architecture
    }
}
