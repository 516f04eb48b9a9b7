import DinoModels
import Foundation
import Testing

@Suite struct ModelConfigTests {
    @Test(arguments: ModelPresets.names)
    func presetsRoundTripThroughJSON(name: String) throws {
        let config = try ModelPresets.config(named: name)
        let json = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(VisionTransformerConfig.self, from: json) == config)
    }

    @Test func unknownKeysAreRejectedByName() {
        let json = #"{"embed_dim": 64, "num_heads": 4, "dropout": 0.1}"#
        #expect {
            _ = try JSONDecoder().decode(VisionTransformerConfig.self, from: Data(json.utf8))
        } throws: { error in
            "\(error)".contains("'dropout'") && "\(error)".contains("embed_dim")
        }
        let nested = #"{"rope": {"base": 100, "theta": 1}, "learned_position": null}"#
        #expect {
            _ = try JSONDecoder().decode(VisionTransformerConfig.self, from: Data(nested.utf8))
        } throws: { error in
            "\(error)".contains("'theta'")
        }
    }

    @Test func defaultsFillMissingKeysAndInvalidCombinationsFail() throws {
        let c = try JSONDecoder().decode(VisionTransformerConfig.self, from: Data(#"{"depth": 3}"#.utf8))
        #expect(c.depth == 3 && c.embedDimensions == VisionTransformerConfig().embedDimensions)
        #expect(c.learnedPosition != nil && c.rope == nil)
        let both = #"{"rope": {}, "learned_position": {}}"#
        #expect {
            _ = try JSONDecoder().decode(VisionTransformerConfig.self, from: Data(both.utf8))
        } throws: { error in
            "\(error)".contains("exactly one of learned_position and rope")
        }
        let heads = #"{"embed_dim": 30, "num_heads": 4}"#
        #expect(throws: DecodingError.self) {
            _ = try JSONDecoder().decode(VisionTransformerConfig.self, from: Data(heads.utf8))
        }
    }
}
