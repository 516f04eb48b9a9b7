import ArgumentParser
import DinoTensor

@main
struct Dino: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dino",
        abstract: "Self-supervised vision pretraining with the DINO family.",
        subcommands: [ConvertCommand.self, EmbedCommand.self, Show.self, Bench.self]
    )
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed.",
        subcommands: [BenchData.self, BenchModels.self]
    )
}
