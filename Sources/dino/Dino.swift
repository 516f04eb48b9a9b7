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
