// RandAugment's ops against timm/Pillow outputs (scripts/make_finetune_fixtures.py).

import DinoTensor
@testable import DinoVision
import Foundation
import XCTest

final class RandAugmentTests: XCTestCase {
    struct Fixture: Decodable {
        struct Op: Decodable {
            let name: String
            let negate: Bool
            let magnitude: Double?
            let argument: Double?
            let pixels: [Int]
        }
        let width: Int
        let height: Int
        let image: [Int]
        let fill: [Int]
        let ops: [Op]
    }

    func loadFixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "randaugment", withExtension: "json", subdirectory: "Fixtures"),
                                "run scripts/make_finetune_fixtures.py")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testLevelArgumentsMatchTimmAtMagnitudeNine() throws {
        let f = try loadFixture()
        for op in f.ops where op.magnitude != nil {
            let ours = try XCTUnwrap(RandAugmentOp(rawValue: op.name))
            let arg = ours.argument(magnitude: op.magnitude!, negate: op.negate)
            if let expected = op.argument {
                XCTAssertEqual(arg!, expected, accuracy: 1e-12, "\(op.name) negate \(op.negate)")
            } else {
                XCTAssertNil(arg, op.name)
            }
        }
    }

    func testOpsMatchPillowOnFixtureImage() throws {
        let f = try loadFixture()
        let image = RGBImage(width: f.width, height: f.height, pixels: f.image.map(UInt8.init))
        let fill = (UInt8(f.fill[0]), UInt8(f.fill[1]), UInt8(f.fill[2]))
        var checked = Set<String>()
        for op in f.ops {
            let ours = try XCTUnwrap(RandAugmentOp(rawValue: op.name))
            let out = ours.apply(image, argument: op.argument, fill: fill)
            let diffs = zip(out.pixels, op.pixels).map { abs(Int($0) - $1) }
            XCTAssertEqual(diffs.max(), 0, "\(op.name)(\(op.argument.map { String($0) } ?? "")): \(diffs.filter { $0 > 0 }.count) of \(diffs.count) values differ")
            checked.insert(op.name)
        }
        XCTAssertEqual(checked, Set(RandAugmentOp.allCases.map(\.rawValue)))
    }

    func testPolicyParsing() throws {
        let p = try RandAugmentPolicy(parsing: "rand-m9-mstd0.5-inc1")
        XCTAssertEqual(p.magnitude, 9)
        XCTAssertEqual(p.magnitudeStd, 0.5)
        XCTAssertEqual(p.layers, 2)
        XCTAssertEqual(p.probability, 0.5)
        XCTAssertEqual(p.ops.count, 15)
        XCTAssertThrowsError(try RandAugmentPolicy(parsing: "rand-m9-mstd0.5")) { e in
            XCTAssertTrue("\(e)".contains("inc1"))
        }
        XCTAssertThrowsError(try RandAugmentPolicy(parsing: "rand-m9-x3-inc1")) { e in
            XCTAssertTrue("\(e)".contains("x3"))
        }
        XCTAssertThrowsError(try RandAugmentPolicy(parsing: "augmix-m9"))
    }

    func testPolicyIsReproducibleAndChangesImages() throws {
        let f = try loadFixture()
        let image = RGBImage(width: f.width, height: f.height, pixels: f.image.map(UInt8.init))
        let p = try RandAugmentPolicy(parsing: "rand-m9-mstd0.5-inc1")
        var changed = 0
        for seed in 0..<20 as Range<UInt64> {
            let a = p.apply(image, RandomGenerator(seed: seed)), b = p.apply(image, RandomGenerator(seed: seed))
            XCTAssertEqual(a, b)
            if a != image { changed += 1 }
        }
        // Two ops at probability ½ each leave about a quarter of the images unchanged.
        XCTAssertGreaterThan(changed, 8)
        XCTAssertLessThan(changed, 20)
    }

    func testRandomErasingBoxesFollowTimmRanges() {
        let e = RandomErasing(probability: 1)
        var erased = 0
        for seed in 0..<200 as Range<UInt64> {
            guard let b = e.box(height: 32, width: 32, RandomGenerator(seed: seed)) else { continue }
            erased += 1
            let area = Double(b.height * b.width) / 1024
            XCTAssertGreaterThan(area, 0.01)
            XCTAssertLessThan(area, 0.4)
            XCTAssertLessThanOrEqual(b.top + b.height, 32)
            XCTAssertLessThanOrEqual(b.left + b.width, 32)
        }
        XCTAssertGreaterThan(erased, 190)
        XCTAssertNil(RandomErasing(probability: 0).box(height: 32, width: 32, RandomGenerator(seed: 1)))
        var px = [Float](repeating: 7, count: 3 * 16 * 16)
        RandomErasing(probability: 1).apply(&px, channels: 3, height: 16, width: 16, RandomGenerator(seed: 3))
        let changed = px.filter { $0 != 7 }.count
        XCTAssertGreaterThan(changed, 0)
        XCTAssertEqual(changed % 3, 0, "the same box in every channel")
    }
}
