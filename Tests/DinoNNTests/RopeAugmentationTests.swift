import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// RoPE's training-time coordinate augmentation against the official `RopePositionEmbedding`
/// in training mode (Fixtures/dinov3_rope_augment.json, scripts/make_dinov3_fixtures.py): the
/// reference's draws (shift, jitter, rescale, replayed by re-seeding) applied here give its
/// sine and cosine tables.
@Suite struct RopeAugmentationTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            let H: Int, W: Int, head_dim: Int
            let normalize: String
            let draws: [String: [Double]]
            let sin: [Double], cos: [Double]
        }
        let cases: [Case]
    }

    @Test func augmentedTablesMatchTheReference() throws {
        let url = try #require(Bundle.module.url(forResource: "dinov3_rope_augment", withExtension: "json", subdirectory: "Fixtures"))
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        #expect(reference.cases.count == 4)
        for c in reference.cases {
            let normalization = try #require(RotaryEmbedding.Normalization(rawValue: c.normalize))
            let f = { (k: String) in c.draws[k]?.map(Float.init) }
            let rope = RotaryEmbedding(headDimensions: c.head_dim, normalization: normalization,
                                       shift: f("shift").map { _ in 1 }, jitter: f("jitter").map { _ in 2 }, rescale: f("rescale").map { _ in 2 },
                                       generator: RandomGenerator(seed: 0))
            rope.eval()
            let draws = RotaryEmbedding.AugmentationDraws(shift: f("shift").map { ($0[0], $0[1]) }, jitter: f("jitter").map { ($0[0], $0[1]) },
                                                          rescale: f("rescale")?[0])
            let table = rope.table(coordinates: RotaryEmbedding.augment(rope.coordinates(height: c.H, width: c.W), draws: draws))
            #expect(table.sin.shape == [c.H * c.W, c.head_dim])
            #expect(mismatch(doubles: table.sin.doubles, c.sin, rtol: 1e-4, atol: 2e-5) == nil, "\(c.H)×\(c.W) \(c.draws.keys.sorted()) sin")
            #expect(mismatch(doubles: table.cos.doubles, c.cos, rtol: 1e-4, atol: 2e-5) == nil, "\(c.H)×\(c.W) \(c.draws.keys.sorted()) cos")
            // In training the module draws its own values in the same ranges.
            rope.train()
            let own = rope.drawAugmentation()
            #expect((own.shift == nil) == (draws.shift == nil) && (own.jitter == nil) == (draws.jitter == nil) && (own.rescale == nil) == (draws.rescale == nil))
            if let s = own.shift { #expect(abs(s.0) <= 1 && abs(s.1) <= 1) }
            if let r = own.rescale { #expect((0.5...2).contains(r)) }
        }
    }
}
