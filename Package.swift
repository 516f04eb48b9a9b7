// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "swift-dino",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "DinoTensor", targets: ["DinoTensor"]),
        .library(name: "DinoNN", targets: ["DinoNN"]),
        .library(name: "DinoModels", targets: ["DinoModels"]),
        .library(name: "DinoSSL", targets: ["DinoSSL"]),
        .library(name: "DinoEval", targets: ["DinoEval"]),
        .library(name: "DinoVision", targets: ["DinoVision"]),
        .library(name: "DinoCuration", targets: ["DinoCuration"]),
        .library(name: "DinoDistributed", targets: ["DinoDistributed"]),
        // The library for programs: a deliberate surface over the modules below (docs/library.md).
        .library(name: "Dino", targets: ["Dino"]),
        .executable(name: "dino", targets: ["dino"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        // YAML configs (measured: +12 s user / 21 s wall to a clean debug build, 24 s release).
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // `swift package generate-documentation --target Dino` (make docs): the DocC reference
        // of the `Dino` surface. A build-time plugin only; nothing links it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // System BLAS (OpenBLAS from Debian: libopenblas-dev).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Image codecs from Debian (libturbojpeg0-dev, libspng-dev, libwebp-dev, libtiff-dev).
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CSPNG", pkgConfig: "spng", providers: [.apt(["libspng-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),
        .systemLibrary(name: "CTIFF", pkgConfig: "libtiff-4", providers: [.apt(["libtiff-dev"])]),
        // oneDNN from Debian (libdnnl-dev): Float32 matrix products; OpenMP (libgomp) threads.
        .systemLibrary(
            name: "CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        // Open MPI's libmpi, loaded at run time with dlopen (no link-time dependency: `dino`
        // builds and trains where Open MPI is not installed; docs/distributed.md).
        .target(name: "CDinoMPI"),
        // Data-parallel training: the Communicator (one process; Open MPI), DDP's bucketed
        // gradient all-reduce.
        .target(name: "DinoDistributed", dependencies: ["CDinoMPI", "DinoTensor"]),
        // Vectorised float kernels; AVX-512 / AVX2 paths chosen at run time.
        .target(name: "CDinoKernels"),
        .target(
            name: "DinoTensor",
            dependencies: [
                "CBLAS", "CDNNL", "CDinoKernels",
                .product(name: "RealModule", package: "swift-numerics"),
            ]
        ),
        // DinoNN holds the one config system (strict decoding, JSON/YAML loading), used by the models and methods above it.
        .target(name: "DinoNN", dependencies: ["DinoTensor", .product(name: "Yams", package: "Yams")]),
        .target(
            name: "DinoSSL",
            dependencies: ["DinoDistributed", "DinoModels", "DinoNN", "DinoTensor", "DinoVision"]
        ),
        // DinoSSL for fine-tuning, which runs on the method-agnostic Trainer.
        .target(name: "DinoEval", dependencies: ["DinoModels", "DinoNN", "DinoSSL", "DinoTensor", "DinoVision"]),
        // faiss from Debian (libfaiss-dev 1.7.3: headers and a static library, no C API): a C++
        // shim for approximate k-NN (IVF-Flat, HNSW-Flat); faiss needs BLAS/LAPACK (OpenBLAS) and OpenMP.
        .target(
            name: "CFaiss",
            cxxSettings: [.headerSearchPath("omp")],
            linkerSettings: [.linkedLibrary("faiss"), .linkedLibrary("openblas"), .linkedLibrary("gomp"), .linkedLibrary("stdc++")]
        ),
        // Data curation: k-NN deduplication, hierarchical k-means, balanced and retrieval sampling.
        .target(name: "DinoCuration", dependencies: ["CFaiss", "DinoNN", "DinoTensor", "DinoVision"]),
        .target(name: "DinoTestSupport", dependencies: ["DinoTensor"]),
        .target(
            name: "DinoVision",
            dependencies: ["DinoTensor", "CTurboJPEG", "CSPNG", "CWebP", "CTIFF"]
        ),
        .target(name: "DinoModels", dependencies: ["DinoNN", "DinoVision"]),
        // `import Dino`: load a backbone, embed images, pretrain with a registered method, k-NN
        // (docs/library.md lists its signatures).
        .target(name: "Dino", dependencies: ["DinoTensor", "DinoModels", "DinoVision", "DinoSSL", "DinoEval", "DinoCuration"]),
        // Timed cases behind `dino bench`; the PyTorch peer is scripts/bench_ops_torch.py.
        .target(name: "DinoBench", dependencies: ["CDinoKernels", "DinoTensor"]),
        .executableTarget(
            name: "dino",
            dependencies: [
                "DinoTensor", "DinoNN", "DinoVision", "DinoBench", "DinoModels", "DinoSSL", "DinoEval", "DinoCuration", "DinoDistributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "DinoTensorTests",
            dependencies: ["CDinoKernels", "DinoTensor", "DinoTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DinoNNTests",
            dependencies: ["DinoNN", "DinoTensor", "DinoTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DinoModelsTests",
            dependencies: ["DinoModels", "DinoNN", "DinoVision", "DinoTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DinoSSLTests",
            dependencies: ["DinoSSL", "DinoModels", "DinoNN", "DinoTensor", "DinoVision", "DinoTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DinoEvalTests",
            dependencies: ["DinoEval", "DinoModels", "DinoNN", "DinoSSL", "DinoTensor", "DinoVision", "DinoTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DinoVisionTests",
            dependencies: ["DinoVision", "DinoTensor", "DinoTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DinoCurationTests",
            dependencies: ["DinoCuration", "DinoNN", "DinoTensor", "DinoVision", "DinoTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        // Communicator and reducer; `mpirun -np 2/3` runs of `dino` (the tests build it).
        .testTarget(name: "DinoDistributedTests", dependencies: ["DinoDistributed", "DinoSSL", "DinoTensor", "DinoTestSupport", "dino"]),
        .testTarget(name: "DinoBenchTests", dependencies: ["DinoBench", "DinoTensor"]),
        // The `Dino` surface through `import Dino` (DinoModels and DinoTensor only to write test files).
        .testTarget(name: "DinoTests", dependencies: ["Dino", "DinoModels", "DinoTensor"]),
        // `dino` argument handling: flags into library requests (resume, methods, overrides).
        .testTarget(name: "DinoCLITests", dependencies: ["dino", "DinoNN", "DinoSSL", "DinoTestSupport", "DinoVision"]),
    ],
    // Swift 5 mode: kernels hand raw pointers to worker threads, which strict
    // concurrency checking cannot see through.
    swiftLanguageModes: [.v5]
)
