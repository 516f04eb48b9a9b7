import ArgumentParser
import DinoTensor

@main
struct Dino: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dino",
        abstract: "Self-supervised vision pretraining with the DINO family.",
        subcommands: [TrainCommand.self, LaunchCommand.self, ExportCommand.self, EvalCommand.self, FinetuneCommand.self, PredictCommand.self, EmbedCommand.self, ConvertCommand.self, CurateCommand.self, Show.self, Bench.self]
    )
}
