// `dino show …`: pictures of what the pipeline does, for a person to look at.

import ArgumentParser
import DinoTensor
import DinoVision
import Foundation

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write pictures of the data pipeline and of what a backbone sees.",
        subcommands: [ShowAugmentations.self, ShowPCA.self, ShowAttention.self]
    )
}

struct ShowAugmentations: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augmentations",
        abstract: "A PNG grid: per image, the image, its 2 global views (iBOT mask in red) and its local views."
    )

    @Option(help: "Folder of images (searched recursively) or a text file listing paths.")
    var data: String

    @Option(help: "Output PNG file.")
    var out: String = "augmentations.png"

    @Option(help: "Number of images (rows).")
    var images: Int = 4

    @OptionGroup var crops: MultiCropOptions

    @Option(help: "Patch size for the iBOT masks (default: 4 below 64 px, else 14 for dinov2, 16 for dinov3; 0 for none).")
    var patchSize: Int?

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    func run() throws {
        let preset = try crops.preset()
        let config = try crops.config()
        let patch = patchSize ?? (preset == .dino ? 0 : crops.globalSize < 64 ? 4 : preset == .dinov3 ? 16 : 14)
        let dataset = try ImageFileDataset.open(data)
        let issues = DataIssueLog()
        var picked: [RGBImage] = []
        var i = 0
        let options = DecodeOptions(minimumShorterSide: config.decodeShorterSide)
        while picked.count < images && i < dataset.count {
            // Spread the rows over the dataset.
            let index = (i * max(1, dataset.count / max(1, images))) % dataset.count
            if let img = dataset.loadImage(at: index, options: options, issues: issues) { picked.append(img) }
            i += 1
        }
        guard !picked.isEmpty else { throw ValidationError("\(data): no readable images") }
        let collator = patch > 0 && crops.globalSize % patch == 0
            ? MaskCollator(gridSize: crops.globalSize / patch, variant: preset == .dinov3 ? .dinov3 : .dinov2) : nil
        let grid = AugmentationGrid(config: config, maskCollator: collator, patchSize: patch, seed: seed).render(picked)
        try grid.writePNG(to: URL(fileURLWithPath: out))
        print("wrote \(out): \(picked.count) images × (1 + 2 global + \(crops.localCount) local views), \(grid.width)×\(grid.height)")
    }
}
