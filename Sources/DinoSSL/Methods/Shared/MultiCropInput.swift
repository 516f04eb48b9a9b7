// The batch of the multi-crop methods (DINO, DINOv2, distillation): global and local views and
// the iBOT masks, as MultiCropBatchSource makes it.

import DinoTensor
import DinoVision

/// A batch of multi-crop views of B images, view-major (rows `v·B ..< (v+1)·B` are view v).
public struct MultiCropInput {
    /// (2B, C, G, G): global views 0 and 1.
    public var globalCrops: Tensor
    /// (L·B, C, l, l): the local views, or nil without multi-crop.
    public var localCrops: Tensor?
    /// iBOT masks of the 2B global views (DINOv2/v3), or nil.
    public var masks: BatchMasks?
    /// (2B, C, S, S): DINOv3's Gram teacher views of the global crops, or nil.
    public var gramCrops: Tensor? = nil

    public init(globalCrops: Tensor, localCrops: Tensor?, masks: BatchMasks? = nil) {
        precondition(globalCrops.rank == 4 && globalCrops.shape[0] % 2 == 0,
                     "MultiCropInput: global crops must be (2B, C, H, W), got \(globalCrops.shape)")
        if let localCrops {
            precondition(localCrops.rank == 4 && localCrops.shape[0] % (globalCrops.shape[0] / 2) == 0,
                         "MultiCropInput: local crops \(localCrops.shape) are not whole views of \(globalCrops.shape[0] / 2) images")
        }
        if let masks {
            precondition(masks.count == globalCrops.shape[0],
                         "MultiCropInput: masks of \(masks.count) views for \(globalCrops.shape[0]) global crops")
        }
        self.globalCrops = globalCrops
        self.localCrops = localCrops
        self.masks = masks
    }

    /// The crops in `dtype` (Float64 for `precision: float64`: the Float32 pipeline's images
    /// widened exactly); the same batch when they are already in it. The masks stay as they
    /// are (their tensors are made in the dtype asked for: `BatchMasks.weights(dtype:)`).
    public func converted(to dtype: DType) -> MultiCropInput {
        guard globalCrops.dtype != dtype else { return self }
        var out = MultiCropInput(globalCrops: globalCrops.to(dtype), localCrops: localCrops?.to(dtype), masks: masks)
        out.gramCrops = gramCrops?.to(dtype)
        return out
    }

    /// B, the number of images.
    public var images: Int { globalCrops.shape[0] / 2 }
    /// V, the number of views (2 + L).
    public var views: Int { 2 + (localCrops.map { $0.shape[0] / images } ?? 0) }
}
