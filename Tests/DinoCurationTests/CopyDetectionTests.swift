@testable import DinoCuration
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// Golden values from DINO's eval_copy_detection.py and utils.PCA (scripts/make_copy_detection_fixtures.py).
struct CopyDetectionFixture: Decodable {
    let tokens: [[[Float]]]
    let grid: [Int]
    let descriptor: [[Float]]
    let whitening: [[Float]]
    let database: [[Float]]
    let queries: [[Float]]
    let similarity: [[Float]]

    static func load() throws -> CopyDetectionFixture {
        guard let url = Bundle.module.url(forResource: "copy_detection", withExtension: "json", subdirectory: "Fixtures") else {
            throw CurationError("fixture copy_detection.json missing; run scripts/make_copy_detection_fixtures.py")
        }
        return try JSONDecoder().decode(CopyDetectionFixture.self, from: Data(contentsOf: url))
    }
}

func matrix(_ rows: [[Float]]) -> Tensor { Tensor(rows.flatMap { $0 }, shape: [rows.count, rows[0].count]) }

@Suite struct CopyDetectionTests {
    @Test func descriptorIsClassTokenAndGeMOfThePatchTokens() throws {
        let f = try CopyDetectionFixture.load()
        let (b, t, d) = (f.tokens.count, f.tokens[0].count, f.tokens[0][0].count)
        let all = Tensor(f.tokens.flatMap { $0.flatMap { $0 } }, shape: [b, t, d])
        let cls = all.slice(axis: 1, start: 0, end: 1).squeeze(1)
        let patches = all.slice(axis: 1, start: 1, end: t)
        let got = CopyDetectionDescriptor.descriptor(classToken: cls, patchTokens: patches)
        #expect(mismatch(got.scalars, f.descriptor.flatMap { $0 }, rtol: 1e-5, atol: 1e-6) == nil)
    }

    @Test func whitenedSimilaritiesMatchTheReference() throws {
        let f = try CopyDetectionFixture.load()
        let whitening = PCAWhitening.fit(matrix(f.whitening))
        let db = whitening.apply(matrix(f.database)).l2Normalized(axis: 1)
        let q = whitening.apply(matrix(f.queries)).l2Normalized(axis: 1)
        let sim = q.matmul(db.transposed())
        #expect(mismatch(sim.scalars, f.similarity.flatMap { $0 }, rtol: 1e-4, atol: 1e-5) == nil)
    }

    @Test func jacobiDiagonalisesASymmetricMatrix() {
        let a: [Double] = [4, 1, 2, 1, 3, 0.5, 2, 0.5, 5]
        let (values, v) = PCAWhitening.symmetricEigen(a, n: 3)
        for c in 0..<3 {            // A v_c = λ_c v_c
            for r in 0..<3 {
                let av = (0..<3).reduce(0.0) { $0 + a[r * 3 + $1] * v[$1 * 3 + c] }
                #expect(abs(av - values[c] * v[r * 3 + c]) < 1e-10)
            }
        }
        #expect(abs(values.reduce(0, +) - 12) < 1e-10)
    }
}
