import DinoNN
import DinoSSL
import Foundation
import Testing

/// A config shaped like a training recipe: nested groups, an enum, an optional, a map.
private struct RecipeConfig: Configuration, Equatable {
    enum Mode: String, Codable { case perParameter = "per_parameter", totalNorm = "total_norm" }
    struct Crops: Codable, Equatable {
        struct Local: Codable, Equatable {
            var count = 8
            var scale: [Double] = [0.05, 0.4]
        }
        var globalSize = 224
        var local = Local()
        enum CodingKeys: String, CodingKey { case globalSize = "global_size", local }
    }
    var lr = 5e-4
    var epochs = 100
    var seed: UInt64 = 0
    var clipMode = Mode.perParameter
    var maxMinutes: Double? = nil
    var crops = Crops()
    var tags: [String: String] = [:]
    enum CodingKeys: String, CodingKey {
        case lr, epochs, seed, crops, tags
        case clipMode = "clip_mode", maxMinutes = "max_minutes"
    }
}

private func temporaryFile(_ name: String, _ text: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dino-config-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url
}

@Suite struct ConfigTests {
    @Test func defaultsWhenNothingIsGiven() throws {
        #expect(try ConfigLoader.load(RecipeConfig.self) == RecipeConfig())
    }

    @Test func jsonFileOverridesOnlyTheKeysItHas() throws {
        let url = try temporaryFile("c.json", #"{"lr": 0.001, "crops": {"local": {"count": 6}}, "max_minutes": 30}"#)
        let c = try ConfigLoader.load(RecipeConfig.self, file: url)
        var expected = RecipeConfig()
        expected.lr = 0.001
        expected.crops.local.count = 6
        expected.maxMinutes = 30
        #expect(c == expected)
    }

    @Test func yamlFileAndCommandLineOverrides() throws {
        let url = try temporaryFile("c.yaml", """
        # a recipe
        lr: 2.0e-4
        epochs: 3
        clip_mode: total_norm
        crops:
          global_size: 32
          local:
            scale: [0.1, 0.5]
        tags:
          owner: me
        """)
        let c = try ConfigLoader.load(RecipeConfig.self, file: url,
                                      overrides: ["epochs=7", "crops.local.count=2", "tags.note=hello world",
                                                  "crops.local.scale.1=0.6", "seed=9223372036854775807"])
        #expect(c.lr == 2e-4 && c.epochs == 7 && c.clipMode == .totalNorm)
        #expect(c.crops.globalSize == 32 && c.crops.local.count == 2 && c.crops.local.scale == [0.1, 0.6])
        #expect(c.tags == ["owner": "me", "note": "hello world"])
        #expect(c.seed == UInt64(Int64.max))   // integers are 64-bit signed in the tree
    }

    @Test func unknownKeysAreNamedWithTheValidOnes() throws {
        let url = try temporaryFile("c.json", #"{"crops": {"local": {"cout": 6}}}"#)
        #expect(throws: ConfigError.unknownKeys(path: "crops.local", keys: ["cout"], valid: ["count", "scale"])) {
            try ConfigLoader.load(RecipeConfig.self, file: url)
        }
        do {
            _ = try ConfigLoader.load(RecipeConfig.self, overrides: ["learning_rate=1"])
            Issue.record("an unknown top-level key was accepted")
        } catch let e as ConfigError {
            #expect(e.description == "config: unknown key 'learning_rate' at the top level; valid keys: clip_mode, crops, epochs, lr, max_minutes, seed, tags")
        }
    }

    @Test func wrongTypesAndValuesNameTheKey() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(RecipeConfig.self, overrides: ["epochs=2.5"]) }
        do {
            _ = try ConfigLoader.load(RecipeConfig.self, overrides: ["lr=fast"])
            Issue.record("a string was accepted for a number")
        } catch let e as ConfigError {
            guard case .typeMismatch(let path, _, _) = e else { Issue.record("\(e)"); return }
            #expect(path == "lr")
        } catch { Issue.record("\(error)") }
        do {
            _ = try ConfigLoader.load(RecipeConfig.self, overrides: ["clip_mode=sometimes"])
            Issue.record("an unknown enum case was accepted")
        } catch let e as ConfigError {
            #expect(e.description.contains("clip_mode"))
        } catch { Issue.record("\(error)") }
        #expect(throws: ConfigError.invalidOverride("'epochs' is not of the form key.sub=value")) {
            try ConfigLoader.load(RecipeConfig.self, overrides: ["epochs"])
        }
        #expect(throws: ConfigError.self) { try ConfigLoader.load(RecipeConfig.self, overrides: ["epochs.x=1"]) }
    }

    @Test func malformedFilesNameTheFile() throws {
        let url = try temporaryFile("bad.yaml", "lr: [1, 2\nepochs: 3")
        do {
            _ = try ConfigLoader.load(RecipeConfig.self, file: url)
            Issue.record("malformed YAML was accepted")
        } catch let e as ConfigError {
            guard case .unreadable(let file, _) = e else { Issue.record("\(e)"); return }
            #expect(file == url.path)
        }
    }

    @Test func jsonTreeRoundTripsAndPrintsSorted() throws {
        let tree = try RecipeConfig().jsonTree()
        #expect(try ConfigLoader.decode(RecipeConfig.self, from: tree) == RecipeConfig())
        let text = JSONValue.object(["b": .integer(1), "a": .array([.double(0.5), .null, .string("x\"y")])]).serialized
        #expect(text == #"{"a":[0.5,null,"x\"y"],"b":1}"#)
        #expect(try JSONValue.parse(text) == JSONValue.parse(JSONValue.parse(text).pretty))
        #expect(JSONValue.double(.nan).serialized == "null")
        #expect(JSONValue.object(["x": .integer(1), "y": .object(["z": .integer(2)])])
            .merged(with: .object(["y": .object(["w": .integer(3)])]))
            == .object(["x": .integer(1), "y": .object(["z": .integer(2), "w": .integer(3)])]))
    }
}

@Suite struct TrainerOptionsTests {
    @Test func loadsWithSnakeCaseKeysAndRejectsTypos() throws {
        let o = try ConfigLoader.load(TrainerOptions.self, overrides: ["clip_mode=total_norm", "max_minutes=5", "clip_grad=null"])
        var expected = TrainerOptions()
        expected.clipMode = .totalNorm
        expected.maxMinutes = 5
        expected.clipGrad = nil
        #expect(o == expected)
        do {
            _ = try ConfigLoader.load(TrainerOptions.self, overrides: ["max_minute=5"])
            Issue.record("a typo was accepted")
        } catch let ConfigError.unknownKeys(path, keys, valid) {
            #expect(path == "" && keys == ["max_minute"] && valid.contains("max_minutes") && valid.contains("clip_grad"))
        }
    }
}
