import ArgumentParser
import DinoTensor

@main
struct Dino: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dino",
        abstract: "Self-supervised vision pretraining with the DINO family.",
        subcommands: [ConvertCommand.self, BenchModelsTemporary.self]
    )
}

/// `dino bench-models` until the `bench` command group lands; then `dino bench models`.
struct BenchModelsTemporary: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-models", abstract: BenchModels.configuration.abstract,
                                                    subcommands: [BenchModels.self], defaultSubcommand: BenchModels.self)
}
