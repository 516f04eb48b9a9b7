// The configuration of a distillation run: a frozen teacher (a preset with weights, or the
// teacher of one of our runs) trains a smaller student with the DINOv2 losses. The loss, head,
// optimisation and crop sections are DINOv2's (DINOv2Config.swift); what differs is the teacher's
// source and the student's training: no masking of its inputs (iBOT compares all patches), no
// stochastic depth, and an EMA of the student kept as the exported model.
//
// Reference: Oquab et al., "DINOv2" (2023), §5 "Distillation": "we use a larger model as a frozen
// teacher, keep a spare EMA of the student that we use as our final model, remove the masking
// and stochastic depth, and apply the iBOT loss on the two global crops".

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// A distillation run's settings (JSON/YAML keys in snake_case, unknown keys rejected).
public struct DistillationConfig: Configuration, Equatable, Sendable {
    /// The student's model preset; several, comma-separated (`vit_nano_patch4,vit_tiny_patch4`),
    /// train side by side from one teacher forward per batch (DINOv3's multi-distillation),
    /// each with its own heads, optimiser and EMA, and everything else of this config shared.
    public var model = "vit_nano_patch4"
    /// The teacher's model preset, with `teacher_weights` (a backbone .safetensors file; its
    /// heads then start random and stay frozen, a fixed random projection of its features).
    public var teacherModel: String? = nil
    /// Backbone weights of `teacher_model` (official, timm or transformers keys).
    public var teacherWeights: String? = nil
    /// A `dino train` run directory (DINO or DINOv2): its teacher backbone and heads.
    public var teacherRun: String? = nil
    public var epochs = 100
    /// Steps in one epoch; nil: one pass over the data (as DINOv2's `epoch_length`; the
    /// reference's is 1250).
    public var epochLength: Int? = nil
    public var batchSize = 64
    public var seed: UInt64 = 0
    /// `auto` or `reference` automatic values (see `DINOv2Config.recipe`).
    public var recipe = Recipe.auto
    /// Weights of DINO and KoLeo, and the student's DINO head (prototypes: the teacher head's).
    public var dino = DINOv2Config.DINO()
    /// Weight of iBOT on the patches of the global crops (`ibot_patches`), and the iBOT head;
    /// with `ibot_patches: masked` also its mask ratio and probability.
    public var ibot = DINOv2Config.IBOT()
    /// Which patches of the (always unmasked) global crops the iBOT term compares: `all`
    /// (absent; DINOv2's distillation, each weighing 1/N) or `masked` (DINOv3's: the patches a
    /// DINOv3 exact-count mask picks, each weighing 1/(its view's count), as
    /// multidist_meta_arch.py / ssl_meta_arch.py `get_student_output` index them with
    /// `mask_indices_list` while the student sees the crops unmasked).
    public var ibotPatches: IBOTPatches? = nil
    /// DINOv3's `crops.teacher_to_student_resolution_scale` (absent: 1): the global crops are
    /// resized (bilinear, antialiased) by 1/scale before teacher and students see them, as
    /// multidist_meta_arch.py `forward_backward` does. (The reference reads it with
    /// `getattr(self, "crops.teacher_to_student_resolution_scale", 1.0)`, so its runs use 1.)
    public var teacherToStudentResolutionScale: Double? = nil

    /// The patches iBOT compares in distillation.
    public enum IBOTPatches: String, Codable, Sendable, CaseIterable {
        case all, masked
    }
    /// `student:` — the ViT students' LayerScale.
    public struct Student: Codable, Equatable, Sendable {
        /// LayerScale initial value of students whose preset has LayerScale (the reference's
        /// distillation: 1e-5, DINOv2's `layerscale`); nil: auto, DINOv2's rule by depth
        /// (`DINOv2Config.automaticLayerScale`: 1 up to 12 blocks, 1e-5 beyond; 1e-5 with
        /// `recipe=reference`). With 1e-5 a 6-block student of a 10-epoch run ended digits below
        /// a random ViT and learned nothing the scene probes read (docs/benchmarks-robustness.md,
        /// "`distill` and its students' LayerScale"). Only the initial value: a resumed run reads
        /// its LayerScale weights from its checkpoint.
        public var layerScale: Double? = nil

        public init() {}
        enum CodingKeys: String, CodingKey {
            case layerScale = "layerscale"
        }
    }
    public var student = Student()
    /// Teacher temperatures and centring; `momentum` drives the student's EMA (0.992 → 1).
    public var teacher = DINOv2Config.Teacher()
    public var studentTemperature = 0.1
    public var optim = DINOv2Config.Optim()
    public var crops = DINOv2Config().crops
    public var data = DataLoadingConfig()
    /// Stop the run when the collapse monitor has seen a collapse for a whole window (the
    /// checkpoints written before it are kept; none of the collapsed state is written).
    /// Precision of the matrix products: `float32`, or `bf16` (bfloat16 inputs and outputs,
    /// Float32 accumulation, Float32 master weights, optimiser and losses: PyTorch's CPU
    /// autocast; DinoTensor/Ops/Autocast.swift). Recorded in the checkpoints' config; a resume
    /// with another precision is refused. (`float64` is refused: only dino and dinov2 have it.)
    public var precision = Precision.float32
    public var stopOnCollapse = false
    /// The collapse monitor's window and thresholds (CollapseMonitor.swift).
    public var collapseMonitor = CollapseMonitorOptions()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case model, epochs, seed, dino, ibot, student, teacher, optim, crops, data, recipe
        case teacherModel = "teacher_model", teacherWeights = "teacher_weights", teacherRun = "teacher_run"
        case batchSize = "batch_size", studentTemperature = "student_temperature", epochLength = "epoch_length"
        case stopOnCollapse = "stop_on_collapse", collapseMonitor = "collapse_monitor", precision
        case ibotPatches = "ibot_patches", teacherToStudentResolutionScale = "teacher_to_student_resolution_scale"
    }

    /// The students' model presets: `model` split at commas (one when alone).
    public var studentModels: [String] {
        model.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The DINOv2 settings of the student (no stochastic depth), whose automatic values and
    /// schedules the run uses; of the first student when there are several.
    public var studentSettings: DINOv2Config { studentSettings(model: studentModels[0]) }

    /// The DINOv2 settings of the student `model` (one of `studentModels`).
    public func studentSettings(model: String) -> DINOv2Config {
        var c = DINOv2Config()
        c.model = model
        c.epochs = epochs
        c.epochLength = epochLength
        c.batchSize = batchSize
        c.seed = seed
        c.dino = dino
        c.ibot = ibot
        c.teacher = teacher
        c.studentTemperature = studentTemperature
        c.student.dropPathRate = 0
        c.student.layerScale = student.layerScale   // nil: DINOv2's automatic value (and its reference's)
        c.recipe = recipe
        c.optim = optim
        c.crops = crops
        c.data = data
        c.stopOnCollapse = stopOnCollapse
        c.precision = precision
        c.collapseMonitor = collapseMonitor
        return c
    }

    /// Checks ranges and the teacher's source, naming the key of the first bad value.
    public func validate() throws {
        if precision == .float64 {
            throw ConfigError.invalidValue(path: "precision", message: "float64 is implemented for dino and dinov2 only; use float32 or bf16")
        }
        let models = studentModels
        if let empty = models.firstIndex(where: \.isEmpty) {
            throw ConfigError.invalidValue(path: "model", message: "'\(model)': student \(empty + 1) has no preset name")
        }
        if Set(models).count != models.count {
            throw ConfigError.invalidValue(path: "model", message: "'\(model)' names a student twice (each student is named by its preset)")
        }
        for m in models { try studentSettings(model: m).validate() }
        if let s = teacherToStudentResolutionScale, !(s >= 1 && s.isFinite) {
            throw ConfigError.invalidValue(path: "teacher_to_student_resolution_scale", message: "\(s): give a factor ≥ 1 (the crops are shrunk by it)")
        }
        if teacherRun == nil {
            guard teacherModel != nil || teacherWeights != nil else {
                throw ConfigError.invalidValue(path: "teacher_run", message: "give a teacher: teacher_run, or teacher_model with teacher_weights")
            }
        } else if teacherModel != nil || teacherWeights != nil {
            throw ConfigError.invalidValue(path: "teacher_run", message: "give teacher_run or teacher_model/teacher_weights, not both")
        }
    }
}
