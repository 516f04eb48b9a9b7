import DinoModels
import DinoNN
import Foundation
import Testing

@Suite struct ModelConfigTests {
    @Test(arguments: ModelPresets.names)
    func presetsRoundTripThroughJSON(name: String) throws {
        let config = try ModelPresets.config(named: name)
        let json = try JSONEncoder().encode(config)
        #expect(try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(String(decoding: json, as: UTF8.self))) == config)
    }

    @Test func unknownKeysAreRejectedByName() {
        let json = #"{"embed_dim": 64, "num_heads": 4, "dropout": 0.1}"#
        #expect {
            _ = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(json))
        } throws: { error in
            "\(error)".contains("'dropout'") && "\(error)".contains("embed_dim")
        }
        let nested = #"{"rope": {"base": 100, "theta": 1}, "learned_position": null}"#
        #expect {
            _ = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(nested))
        } throws: { error in
            "\(error)".contains("'theta'")
        }
    }

    @Test func defaultsFillMissingKeysAndInvalidCombinationsFail() throws {
        let c = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(#"{"depth": 3}"#))
        #expect(c.depth == 3 && c.embedDimensions == VisionTransformerConfig().embedDimensions)
        #expect(c.learnedPosition != nil && c.rope == nil)
        let both = #"{"rope": {}, "learned_position": {}}"#
        #expect {
            _ = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(both))
        } throws: { error in
            "\(error)".contains("exactly one of learned_position and rope")
        }
        let heads = #"{"embed_dim": 30, "num_heads": 4}"#
        #expect(throws: ConfigError.self) {
            _ = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(heads))
        }
        // A tree that chooses RoPE gets RoPE's defaults and no learned position embedding.
        let rope = try ConfigLoader.decode(VisionTransformerConfig.self, from: JSONValue.parse(#"{"rope": {"base": 10}}"#))
        #expect(rope.learnedPosition == nil && rope.rope == RopeConfig(base: 10))
    }
}
