// `dino convert`: a PyTorch `.pth` checkpoint to a safetensors file of backbone weights.

import DinoNN
import DinoTensor
import Foundation

/// What a conversion did.
public struct ConversionReport: Sendable {
    /// Tensors written.
    public let written: Int
    /// Keys left out (heads and other non-backbone entries of a training checkpoint).
    public let dropped: [String]
    /// Top-level keys of the checkpoint.
    public let topLevelKeys: [String]
}

public enum TorchCheckpointConverter {
    /// Reads a PyTorch checkpoint, takes its backbone state dict and writes it as safetensors.
    ///
    /// Keys keep the checkpoint's own layout (official keys for official checkpoints), with
    /// `module.` and `backbone.` prefixes removed as the official evaluation code does.
    ///
    /// - Parameters:
    ///   - input: the `.pth` file (PyTorch ≥ 1.6 ZIP format).
    ///   - output: the `.safetensors` file to write (atomically).
    ///   - key: the state dict to take (`teacher` by default; `student`, `model`, …).
    ///   - allowUnknownObjects: skip non-tensor objects of other classes (training state) as placeholders.
    public static func convert(input: URL, output: URL, key: String? = nil,
                               allowUnknownObjects: Bool = false) throws -> ConversionReport {
        let checkpoint = try TorchCheckpoint(url: input, allowUnknownObjects: allowUnknownObjects)
        let (tensors, dropped) = CheckpointKeys.stripWrapperPrefixes(try checkpoint.stateDict(key: key))
        try SafeTensors.write(tensors, metadata: ["dino.converted_from": input.lastPathComponent], to: output)
        return ConversionReport(written: tensors.count, dropped: dropped, topLevelKeys: checkpoint.topLevelKeys)
    }
}
