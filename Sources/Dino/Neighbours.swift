// Nearest neighbours among embeddings: for each image, the other images whose class tokens
// point the same way (cosine similarity of the L2-normalised class tokens), as in DINO's
// image-retrieval use of its features.

import DinoCuration
import DinoModels
import DinoTensor

/// One neighbour of an image.
public struct Neighbour: Equatable, Sendable {
    /// Its row in the embeddings.
    public var index: Int
    /// Its file.
    public var path: String
    /// Cosine similarity of the two class tokens, in [-1, 1].
    public var similarity: Double

    /// A neighbour at row `index`.
    ///
    /// - Parameters:
    ///   - index: its row in the embeddings.
    ///   - path: its file.
    ///   - similarity: the cosine similarity of the two class tokens.
    public init(index: Int, path: String, similarity: Double) {
        self.index = index
        self.path = path
        self.similarity = similarity
    }
}

/// Nearest-neighbour search among the images of one embedding.
extension ImageEmbeddings {
    /// For every image, the `count` most similar other images, most similar first.
    ///
    ///     s_ij = ⟨x_i / ‖x_i‖, x_j / ‖x_j‖⟩     over the class tokens x, i ≠ j
    ///
    /// Equal similarities rank by row. An image is never its own neighbour; with fewer than
    /// `count + 1` images each gets all the others.
    ///
    /// - Parameter count: neighbours per image (at least 1).
    /// - Returns: one list per row of `classTokens`, in the order of `paths`.
    public func nearestNeighbours(count: Int) -> [[Neighbour]] {
        precondition(count >= 1, "nearestNeighbours: count \(count) must be at least 1")
        guard classTokens.shape[0] > 0 else { return [] }
        // DinoCuration's exact blocked search: top-k per row, the N × N matrix never formed.
        let x = withNoGrad { classTokens.detach().to(.float32).l2Normalized(axis: 1) }   // (N, D)
        let lists = ExactNearestNeighbors(k: count).selfSearch(x)
        return (0..<lists.rows).map { i in
            lists.neighbors(of: i).map { Neighbour(index: $0.index, path: paths[$0.index], similarity: Double($0.similarity)) }
        }
    }
}
