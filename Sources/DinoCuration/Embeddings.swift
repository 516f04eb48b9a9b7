// The embeddings curation works on: one row per image, L2-normalised in place.
//
// What it is: the (N, D) Float32 matrix `dino embed` writes (`embeddings`, paths in the
// metadata key `paths`), read once and normalised where it lies, so a pool of a million
// images is held in memory once (1 M × 384 × 4 B = 1.5 GB). Everything downstream
// (neighbour search, k-means, retrieval) reads rows through views of this one matrix.
// What it is not: an embedder — `dino embed` / `VisionTransformer.embed` make the file.

import DinoTensor
import Foundation

/// Rows of image embeddings with the image each row belongs to.
public struct EmbeddingTable {
    /// Image paths, one per row.
    public var paths: [String]
    /// (N, D) Float32, contiguous; rows of unit length after `normalizeRows`.
    public var vectors: Tensor

    /// Wraps `vectors` (N, D) with one path per row.
    public init(paths: [String], vectors: Tensor) throws {
        guard vectors.rank == 2, vectors.dtype == .float32 else {
            throw CurationError("embeddings must be a (N, D) Float32 matrix, got shape \(vectors.shape) of \(vectors.dtype)")
        }
        guard paths.count == vectors.shape[0] else {
            throw CurationError("\(paths.count) paths for \(vectors.shape[0]) embedding rows")
        }
        self.paths = paths
        self.vectors = vectors.isContiguous ? vectors : vectors.contiguous()
    }

    public var count: Int { vectors.shape[0] }
    public var dimensions: Int { vectors.shape[1] }

    /// Reads a `dino embed` file: tensor `embeddings` (N, D) and metadata `paths` (a JSON
    /// array of N strings); other tensors of the file (`patch_tokens`) are not loaded.
    public static func read(_ url: URL) throws -> EmbeddingTable {
        let file: SafeTensorsFile
        // Only the class-token rows: a file written with --patch-tokens holds far more.
        do { file = try SafeTensors.read(from: url, only: ["embeddings"]) } catch {
            throw CurationError("\(url.path): cannot read embeddings (\(error))")
        }
        guard let vectors = file.tensors["embeddings"] else {
            let keys = (try? SafeTensors.readHeader(from: url).entries.map(\.name).sorted().joined(separator: ", ")) ?? ""
            throw CurationError("\(url.path): no tensor 'embeddings' (keys: \(keys))")
        }
        guard let json = file.metadata["paths"],
              let paths = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) else {
            throw CurationError("\(url.path): metadata key 'paths' missing or not a JSON array of strings")
        }
        do { return try EmbeddingTable(paths: paths, vectors: vectors.to(.float32)) } catch let e as CurationError {
            throw CurationError("\(url.path): \(e.message)")
        }
    }

    /// Divides every row by its L2 norm (rows of zeros stay zero), in place, in parallel.
    ///
    ///     x_i ← x_i / max(‖x_i‖₂, 1e-12)
    public func normalizeRows() {
        let n = count, d = dimensions
        let p = vectors.pointer(Float.self)
        parallelFor(n, grain: Swift.max(1, 65_536 / Swift.max(d, 1))) { rows in
            for i in rows {
                let row = p + i * d
                var s: Float = 0
                for j in 0..<d { s += row[j] * row[j] }
                let inv = 1 / Swift.max(s.squareRoot(), 1e-12)
                for j in 0..<d { row[j] *= inv }
            }
        }
    }

    /// Keeps only the rows `indices` (ascending, each once) by moving them to the front of the
    /// same storage — no second copy of the matrix — and viewing the first `indices.count` rows.
    public mutating func keepRows(_ indices: [Int]) throws {
        guard zip(indices, indices.dropFirst()).allSatisfy({ $0 < $1 }), indices.allSatisfy({ (0..<count).contains($0) }) else {
            throw CurationError("keepRows: row indices must be ascending, distinct and below \(count)")
        }
        let d = dimensions, p = vectors.pointer(Float.self)
        for (r, i) in indices.enumerated() where r != i { (p + r * d).update(from: p + i * d, count: d) }   // r < i: safe
        paths = indices.map { paths[$0] }
        vectors = vectors.slice(axis: 0, start: 0, end: indices.count)
    }

    /// The rows `indices` as a new table (a copy of those rows only).
    public func subset(_ indices: [Int]) throws -> EmbeddingTable {
        let d = dimensions
        let out = Tensor(zeros: [indices.count, d])
        let src = vectors.pointer(Float.self), dst = out.pointer(Float.self)
        for (r, i) in indices.enumerated() { (dst + r * d).update(from: src + i * d, count: d) }
        return try EmbeddingTable(paths: indices.map { paths[$0] }, vectors: out)
    }
}

/// A curation request that cannot be carried out, with what is wrong.
public struct CurationError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
