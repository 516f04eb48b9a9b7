// A pixel-level copy-detection baseline: the downsampled grey image, centred and L2-normalised.
//
// What it is: luma Y = (299·R + 587·G + 114·B) / 1000 (PIL's "L" conversion, without its
// rounding), box-resampled to side × side, minus its own mean, divided by its L2 norm — so
// the cosine of two descriptors is the Pearson correlation of the two downsampled images,
// invariant to a brightness offset and a contrast gain. A constant image gives the zero row.
// Why: a reference point for what the data allows without a learnt model
// (docs/benchmarks-curate.md, "Deduplication of planted near-copies"); it tolerates JPEG and
// colour jitter, not crops or rotations beyond what the downsampling blurs away.
// What it is not: from any DINO reference — DINO's copy detection (eval_copy_detection.py)
// uses ViT features; this is our own baseline (scripts/bench_curate_dedup_ceiling.py runs the
// same math in numpy).

import DinoTensor
import DinoVision

public enum PixelDescriptor {
    /// The descriptor of one image: `side · side` floats, mean 0, norm 1 (or all 0).
    public static func descriptor(_ image: RGBImage, side: Int) -> [Float] {
        precondition(side > 0, "PixelDescriptor: side \(side)")
        let small = (image.width == side && image.height == side) ? image : image.resized(width: side, height: side, filter: .box)
        var v = [Float](repeating: 0, count: side * side)
        for i in 0..<(side * side) {
            let r = Float(small.pixels[3 * i]), g = Float(small.pixels[3 * i + 1]), b = Float(small.pixels[3 * i + 2])
            v[i] = (299 * r + 587 * g + 114 * b) / 1000
        }
        let mean = v.reduce(0, +) / Float(v.count)
        var norm: Float = 0
        for i in v.indices { v[i] -= mean; norm += v[i] * v[i] }
        norm = norm.squareRoot()
        guard norm > 1e-6 else { return [Float](repeating: 0, count: v.count) }
        return v.map { $0 / norm }
    }

    /// Descriptors of several images as rows of a (N, side²) tensor.
    public static func descriptors(_ images: [RGBImage], side: Int) -> Tensor {
        let t = Tensor(zeros: [images.count, side * side])
        let p = t.pointer(Float.self)
        for (r, image) in images.enumerated() {
            descriptor(image, side: side).withUnsafeBufferPointer { (p + r * side * side).update(from: $0.baseAddress!, count: side * side) }
        }
        return t
    }
}
