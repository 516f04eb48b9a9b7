// The probes' heads saved and read back (SavedHeads.swift): the same masks and depths, and
// clear errors for files that are not heads.

@testable import DinoEval
import DinoModels
import DinoTensor
import DinoVision
import Foundation
import XCTest

final class SavedHeadsTests: XCTestCase {
    func backbone() throws -> VisionTransformer {
        let m = VisionTransformer(try ModelPresets.config(named: "test_dinov2"))
        m.initializeWeights(generator: RandomGenerator(seed: 2))
        m.eval()
        return m
    }

    func image(_ seed: UInt64) -> RGBImage {
        let g = RandomGenerator(seed: seed)
        return RGBImage(width: 40, height: 36, pixels: (0..<(40 * 36 * 3)).map { _ in UInt8(g.nextInt(256)) })
    }

    func file() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("head-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testSegmentationHeadRoundTripPredictsTheSameMask() throws {
        let model = try backbone()
        let head = LinearSegmentationHead(dimensions: model.embedDimensions, classes: 5, generator: RandomGenerator(seed: 3))
        // Running statistics away from their initial 0 / 1, as after training.
        head.runningMean.copyIn(RandomGenerator(seed: 4).normal([model.embedDimensions]))
        head.runningVariance.copyIn(RandomGenerator(seed: 5).uniform([model.embedDimensions], low: 0.5, high: 2))
        head.weight.copyIn(RandomGenerator(seed: 6).normal([5, model.embedDimensions]))
        let url = file()
        try saveDenseHead(head, info: DenseHeadInfo(kind: .segmentation, imageSize: 32, embedDimensions: model.embedDimensions,
                                                    classes: 5, backbone: "test"), to: url)
        let (loaded, info) = try loadDenseHead(from: url)
        XCTAssertEqual(info.classes, 5)
        guard case .segmentation(let h) = loaded else { return XCTFail("expected a segmentation head") }
        let a = predictMask(model: model, head: head, image: image(1), size: 32)
        XCTAssertEqual(a.count, 32 * 32)
        XCTAssertEqual(predictMask(model: model, head: h, image: image(1), size: 32), a)
        XCTAssertGreaterThan(Set(a).count, 1)
    }

    func testDepthHeadWithBatchNormRoundTripPredictsTheSameDepth() throws {
        let model = try backbone()
        var config = DepthHeadConfig.dinov3(layers: 1)
        config.bins = 16
        let head = LinearDepthHead(embedDimensions: model.embedDimensions, config: config, generator: RandomGenerator(seed: 3))
        head.batchNorm!.runningMean.copyIn(RandomGenerator(seed: 4).normal([head.dimensions]))
        let url = file()
        try saveDenseHead(head, info: DenseHeadInfo(kind: .depth, imageSize: 32, embedDimensions: model.embedDimensions,
                                                    depth: config, backbone: "test"), to: url)
        guard case .depth(let h) = try loadDenseHead(from: url).0 else { return XCTFail("expected a depth head") }
        let a = predictDepthMap(model: model, head: head, image: image(2), size: 32)
        XCTAssertEqual(a.count, 32 * 32)
        XCTAssertEqual(predictDepthMap(model: model, head: h, image: image(2), size: 32), a)
        XCTAssertTrue(a.allSatisfy { $0 >= Float(config.minDepth) && $0 <= Float(config.maxDepth) })
        let picture = depthMapPicture(a, width: 32, height: 32, maxDepth: config.maxDepth)
        XCTAssertEqual(picture.width, 32)
    }

    func testAFileWithoutHeadMetadataIsRefused() throws {
        let url = file()
        try SafeTensors.write(["x": Tensor.zeros([2])], metadata: [:], to: url)
        XCTAssertThrowsError(try loadDenseHead(from: url)) { e in
            XCTAssertTrue("\(e)".contains("dino.dense_head"), "\(e)")
        }
    }
}
