// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "swift-dino",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "DinoTensor", targets: ["DinoTensor"]),
        .executable(name: "dino", targets: ["dino"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        // System BLAS (OpenBLAS from Debian: libopenblas-dev).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // oneDNN from Debian (libdnnl-dev): Float32 matrix products; OpenMP (libgomp) threads.
        .systemLibrary(
            name: "CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        // Vectorised float kernels; AVX-512 / AVX2 paths chosen at run time.
        .target(name: "CDinoKernels"),
        .target(
            name: "DinoTensor",
            dependencies: [
                "CBLAS", "CDNNL", "CDinoKernels",
                .product(name: "RealModule", package: "swift-numerics"),
            ]
        ),
        .target(name: "DinoTestSupport", dependencies: ["DinoTensor"]),
        // Timed cases behind `dino bench`; the PyTorch peer is scripts/bench_ops_torch.py.
        .target(name: "DinoBench", dependencies: ["DinoTensor"]),
        .executableTarget(
            name: "dino",
            dependencies: [
                "DinoTensor", "DinoBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "DinoTensorTests",
            dependencies: ["DinoTensor", "DinoTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "DinoBenchTests", dependencies: ["DinoBench", "DinoTensor"]),
    ],
    // Swift 5 mode: kernels hand raw pointers to worker threads, which strict
    // concurrency checking cannot see through.
    swiftLanguageModes: [.v5]
)
