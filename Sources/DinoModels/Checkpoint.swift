// Loading and saving backbone weights as safetensors.
//
// We save with the official hub keys, so a file we write loads in the reference code with
// `model.load_state_dict(safetensors.torch.load_file(path))`. We load the official, timm and
// Hugging Face layouts, found from the keys (or named by the caller), after removing the
// wrapper prefixes of training checkpoints (`module.`, `backbone.`) as the official code does.

import DinoNN
import DinoTensor
import Foundation

/// Key handling shared by the safetensors loader and the PyTorch checkpoint converter.
public enum CheckpointKeys {
    /// Removes DDP's `module.` and the SSL wrappers' `backbone.` prefixes, as
    /// dino/utils.py `load_pretrained_weights` and dinov2's eval loaders do. When some keys
    /// start with `backbone.`, only those are kept (the rest belong to projection heads).
    ///
    /// - Returns: the backbone tensors and the keys dropped.
    public static func stripWrapperPrefixes(_ tensors: [String: Tensor]) -> (tensors: [String: Tensor], dropped: [String]) {
        var sd: [String: Tensor] = [:]
        for (k, v) in tensors { sd[k.hasPrefix("module.") ? String(k.dropFirst(7)) : k] = v }
        guard sd.keys.contains(where: { $0.hasPrefix("backbone.") }) else { return (sd, []) }
        var out: [String: Tensor] = [:]
        var dropped: [String] = []
        for (k, v) in sd {
            if k.hasPrefix("backbone.") { out[String(k.dropFirst(9))] = v } else { dropped.append(k) }
        }
        return (out, dropped.sorted())
    }
}

extension VisionTransformer {
    /// Loads weights from a safetensors file in any supported layout.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - layout: the key layout; detected from the keys when nil.
    ///   - strict: require every key of the model and no other (after conversion).
    /// - Throws: `SafeTensorsError` for a bad file, `CheckpointLayoutError` for an unconvertible
    ///   layout, `StateDictError` listing missing, unexpected and mis-shaped keys.
    public func loadWeights(from url: URL, layout: CheckpointLayout? = nil, strict: Bool = true) throws {
        let file = try SafeTensors.read(from: url)
        let (tensors, _) = CheckpointKeys.stripWrapperPrefixes(file.tensors)
        try load(stateDict: try officialStateDict(from: tensors, layout: layout), strict: strict, takingOwnership: true)
    }

    /// Saves every parameter and buffer with the official keys, and the config as metadata
    /// (`dino.model_config`, JSON).
    public func saveWeights(to url: URL, metadata: [String: String] = [:]) throws {
        var meta = metadata
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        meta["dino.model_config"] = String(decoding: try encoder.encode(config), as: UTF8.self)
        try SafeTensors.write(stateDict(), metadata: meta, to: url)
    }

    /// The config stored in a file written by `saveWeights`, if any.
    public static func storedConfig(in url: URL) throws -> VisionTransformerConfig? {
        let header = try SafeTensors.readHeader(from: url)
        guard let json = header.metadata["dino.model_config"] else { return nil }
        return try ConfigLoader.decode(VisionTransformerConfig.self, from: try JSONValue.parse(json))
    }
}

extension VisionTransformer {
    /// A model from a preset name and/or a weights file: the preset's config, or the config
    /// stored in a file we saved; weights loaded from `weights` in any layout.
    ///
    /// - Parameters:
    ///   - preset: a `ModelPresets` name; optional when `weights` stores its config.
    ///   - weights: a safetensors file; nil for random initial weights (seeded by `seed`).
    public static func load(preset: String?, weights: URL?, layout: CheckpointLayout? = nil,
                            seed: UInt64 = 0) throws -> VisionTransformer {
        var config: VisionTransformerConfig
        if let preset {
            config = try ModelPresets.config(named: preset)
        } else if let weights, let stored = try storedConfig(in: weights) {
            config = stored
        } else {
            throw CheckpointLayoutError("name a model preset (the weights file stores no config); presets: \(ModelPresets.names.joined(separator: ", "))")
        }
        config.dropPathRate = 0
        let model = VisionTransformer(config, generator: RandomGenerator(seed: seed))
        if let weights {
            try model.loadWeights(from: weights, layout: layout)
        } else {
            model.initializeWeights(generator: RandomGenerator(seed: seed))
        }
        model.eval()
        return model
    }
}
