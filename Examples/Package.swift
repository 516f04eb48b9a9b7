// swift-tools-version: 6.0
// Programs that use swift-dino as a library, through `import Dino` only. `make test` builds
// them and runs `pretrain-knn` for a few steps.
import Foundation
import PackageDescription

// A path dependency's identity is the name of its folder (swift-dino, or a worktree's name).
let dino = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "DinoExamples",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..")],
    targets: [
        // Embed a folder of images and print each image's nearest neighbours.
        .executableTarget(name: "embed-neighbours", dependencies: [.product(name: "Dino", package: dino)]),
        // Pretrain a small model for N steps, then measure it with k-NN.
        .executableTarget(name: "pretrain-knn", dependencies: [.product(name: "Dino", package: dino)]),
    ]
)
