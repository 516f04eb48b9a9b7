// swift-tools-version: 6.0
// Informal benchmark of the fused ops against PyTorch (not a test; see main.swift).
import Foundation
import PackageDescription

// The repository root, two levels up; SwiftPM names a path dependency by its folder.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "fused-bench",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(
            name: "fusedbench",
            dependencies: [.product(name: "DinoTensor", package: root.lastPathComponent.lowercased())]
        ),
    ],
    swiftLanguageModes: [.v5]
)
