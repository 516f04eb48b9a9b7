import ArgumentParser
import DinoModels
import Foundation

/// `dino convert IN.pth OUT.safetensors`: PyTorch checkpoint to safetensors, no code run.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a PyTorch .pth checkpoint to safetensors (backbone weights).",
        discussion: """
        Reads the ZIP checkpoint with a restricted unpickler that understands tensors and \
        plain containers only and never runs code. From training checkpoints it takes the \
        `teacher` state dict (or --key), drops `module.`/`backbone.` prefixes and heads.
        """
    )

    @Argument(help: "Input .pth file.")
    var input: String

    @Argument(help: "Output .safetensors file.")
    var output: String

    @Option(help: "State dict to take from a training checkpoint (teacher, student, model, …).")
    var key: String?

    @Flag(help: "Replace objects other than tensors and containers (e.g. argparse args) by placeholders instead of failing.")
    var allowUnknownObjects = false

    func run() throws {
        let report = try TorchCheckpointConverter.convert(
            input: URL(fileURLWithPath: input), output: URL(fileURLWithPath: output),
            key: key, allowUnknownObjects: allowUnknownObjects)
        print("wrote \(report.written) tensors to \(output)")
        if !report.dropped.isEmpty {
            print("left out \(report.dropped.count) non-backbone keys: \(report.dropped.prefix(8).joined(separator: ", "))\(report.dropped.count > 8 ? ", …" : "")")
        }
    }
}
