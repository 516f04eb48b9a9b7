// The types of the lower modules that the `Dino` surface hands out or takes, named here so that
// a program that imports only `Dino` can spell them. Each is a typealias of the one type in its
// home module (no copy, no wrapper): a `Dino.Tensor` *is* a `DinoTensor.Tensor`.
//
// What it is not: a re-export of whole modules. Programs that need more (a custom method, the
// trainer's internals, the augmentation pipeline) import DinoSSL, DinoVision, … themselves.

import DinoEval
import DinoModels
import DinoSSL
import DinoTensor

/// An n-dimensional array of `Float` or `Double` with reverse-mode autograd (from DinoTensor).
///
/// Embeddings and features come back as tensors: `shape`, `scalars` (a flat `[Float]`),
/// `matmul`, `l2Normalized(axis:)` and the other operations of DinoTensor apply.
public typealias Tensor = DinoTensor.Tensor

/// The number of threads used by the kernels and by BLAS (from DinoTensor); set
/// `Threads.count` before heavy work to change it (default: the active processor count).
public typealias Threads = DinoTensor.Threads

/// A DINO-family Vision Transformer (DINO, DINOv2 and DINOv3 variants; from DinoModels).
///
/// ``Backbone`` holds one; use its `callAsFunction` for the class token of a batch, or
/// `forwardFeatures(_:)` for every token.
public typealias VisionTransformer = DinoModels.VisionTransformer

/// The architecture of a ``VisionTransformer``: width, depth, heads, patch size, registers,
/// LayerScale, RoPE, … (from DinoModels; JSON keys as in the reference code).
public typealias VisionTransformerConfig = DinoModels.VisionTransformerConfig

/// The key layout of a weights file: `official` (torch hub), `timm` or `transformers`
/// (Hugging Face) (from DinoModels).
public typealias WeightsLayout = DinoModels.CheckpointLayout

/// The deterministic evaluation view: resize the shorter side, centre crop, ImageNet
/// normalisation (from DinoModels).
///
/// `EvaluationTransform(imageSize: 224)` is the reference's `Resize(256) + CenterCrop(224)`;
/// `EvaluationTransform.forInput(size:)` leaves inputs under 96 px unzoomed.
public typealias EvaluationTransform = DinoModels.EvaluationTransform

/// The embeddings of a list of images: `paths`, `classTokens` (N, D), optional
/// `patchTokens` (N, h·w, D) and the unreadable `failures` (from DinoModels).
///
/// ``Backbone/embed(folder:transform:batchSize:patchTokens:progress:)`` makes them;
/// `nearestNeighbours(count:)` (an extension in `Dino`) ranks them.
public typealias ImageEmbeddings = DinoModels.ImageEmbeddings

/// Top-1 and top-5 accuracy of the weighted k-NN classifier for one k, in percent (from
/// DinoEval).
public typealias KNNResult = DinoEval.KNNResult

/// DINO's weighted k-NN classifier on features already extracted (from DinoEval): cosine
/// similarity to the training bank, votes weighted by exp(similarity / T).
public typealias WeightedKNN = DinoEval.WeightedKNN

/// How a training session ended: `.completed`, `.stopped(reason:)` (a stop request, a time or
/// step budget; a checkpoint was written) or `.collapsed(kind:lastGood:)` (from DinoSSL).
public typealias TrainOutcome = DinoSSL.TrainOutcome

/// One finished optimisation step: `step`, `epoch`, `batchInEpoch`, `loss` and every logged
/// value — loss terms, learning rate, gradient norms, collapse monitors (from DinoSSL).
public typealias StepReport = DinoSSL.StepReport
