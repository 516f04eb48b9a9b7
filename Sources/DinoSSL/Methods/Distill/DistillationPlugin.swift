// Distillation in the method registry: its name, the teacher's loading, construction, batches
// (no masks) and export (the student's EMA).

import DinoModels
import DinoNN
import DinoTensor
import DinoVision
import Foundation

/// A distillation config resolved for one data set: the student's DINOv2 settings and the
/// loaded teacher.
public struct ResolvedDistillation {
    public var config: DistillationConfig
    /// The first (or only) student's settings: the run's schedules, crops and trainer options.
    public var settings: ResolvedDINOv2Config
    public var teacher: FrozenTeacher
    /// Every student's name ("" alone, else its preset) and settings.
    public var students: [(name: String, settings: ResolvedDINOv2Config)]
}

extension Distillation: MethodPlugin {
    public static let name = "distill"
    public static let summary = "a frozen teacher (a run, or a preset) distilled into a smaller student"

    /// The frozen teacher named by the config: a run's exported backbone and heads, or a
    /// preset with weights.
    public static func teacher(_ config: DistillationConfig, prototypes: Int) throws -> FrozenTeacher {
        if let run = config.teacherRun { return try FrozenTeacher.fromRun(URL(fileURLWithPath: run)) }
        let backbone = try VisionTransformer.load(preset: config.teacherModel, weights: config.teacherWeights.map { URL(fileURLWithPath: $0) })
        return FrozenTeacher.fromBackbone(backbone, head: config.dino.head, prototypes: prototypes,
                                          generator: RandomGenerator(seed: config.seed).fork(5))
    }

    /// Resolves the student's settings, loads the teacher and checks that the crops are whole
    /// teacher patches.
    public static func resolve(_ config: DistillationConfig, context: MethodContext) throws -> ResolvedDistillation {
        try context.requireDivisibleBatch(config.batchSize)
        try config.validate()
        let settings = try config.studentSettings.resolved(datasetSize: context.dataset.count, distilled: true)
        let models = config.studentModels
        // Under mpirun, `ibot_patches: masked` takes each rank's views of the global batch's
        // masks (a rank may hold no masked patch: it then takes part in the iBOT collectives
        // with nothing), and several students all train on every rank (each on the rank's
        // slice; the reference gives each student a rank subgroup instead): docs/distributed.md.
        var students = [(name: models.count == 1 ? "" : models[0], settings: settings)]
        if models.count > 1 {
            for m in models.dropFirst() {
                let s = try config.studentSettings(model: m).resolved(datasetSize: context.dataset.count, distilled: true)
                // The batch, schedules and trainer are shared: every automatic value must agree.
                var same = s
                same.config.model = settings.config.model
                same.model = settings.model
                same.base.model = settings.base.model
                guard same == settings else {
                    throw ConfigError.invalidValue(path: "model", message: """
                        student \(m) resolves automatic values (crops, schedules) other than \(models[0])'s; \
                        set them explicitly (crops.global_size, crops.local_size, …) so that the students can share batches
                        """)
                }
                students.append((name: m, settings: s))
            }
        }
        let teacher = try teacher(config, prototypes: settings.prototypes)
        let patch = teacher.backbone.patchSize
        for (key, size) in [("crops.global_size", settings.base.globalSize), ("crops.local_size", settings.base.localSize)] where size % patch != 0 {
            throw ConfigError.invalidValue(path: key, message: "\(size) px is not a whole number of the teacher's \(patch)-px patches")
        }
        if let scale = config.teacherToStudentResolutionScale {
            let size = Double(settings.base.globalSize) / scale
            guard size == size.rounded(.down), Int(size) % patch == 0 else {
                throw ConfigError.invalidValue(path: "teacher_to_student_resolution_scale", message: """
                    global crops of \(settings.base.globalSize) px shrunk by \(scale) are \(size) px, not a whole number of the \(patch)-px patches
                    """)
            }
        }
        // A ConvNeXt student sees whole 32-px cells of its final map (the crops it sees: the
        // global ones after the resolution scale, the local ones).
        let studentGlobal = Int((Double(settings.base.globalSize) / (config.teacherToStudentResolutionScale ?? 1)).rounded(.down))
        for m in models where ConvNeXtPresets.all[m] != nil {
            for (key, size) in [("crops.global_size", studentGlobal), ("crops.local_size", settings.base.localSize)] where size % 32 != 0 {
                throw ConfigError.invalidValue(path: key, message: "the ConvNeXt student \(m) sees \(size)-px crops, not a whole number of its 32-px cells")
            }
        }
        return ResolvedDistillation(config: config, settings: settings, teacher: teacher, students: students)
    }

    public static func build(_ r: ResolvedDistillation) throws -> Distillation { Distillation(students: r.students, teacher: r.teacher, ibotPatches: r.config.ibotPatches ?? .all,
                                                                                        resolutionScale: r.config.teacherToStudentResolutionScale)
    }

    public static func batchSource(_ r: ResolvedDistillation, context: MethodContext) throws -> MultiCropBatchSource {
        let pipeline = MultiCropPipeline(dataset: context.dataset, config: r.settings.multiCrop, maskCollator: maskCollator(r), issues: context.issues)
        return MultiCropBatchSource(pipeline: pipeline, batchSize: r.config.batchSize, seed: r.config.seed,
                                    workers: r.settings.base.workers, prefetchBatches: r.config.data.prefetchBatches,
                                    epochLength: r.config.epochLength, placement: context.placement)
    }

    /// With `ibot_patches: masked`, DINOv3's exact-count masks on the teacher's patch grid of the
    /// global crops the students see (after `teacher_to_student_resolution_scale`); else none.
    static func maskCollator(_ r: ResolvedDistillation) -> MaskCollator? {
        guard r.config.ibotPatches == .masked else { return nil }
        let patch = r.teacher.backbone.patchSize
        let size = Int((Double(r.settings.base.globalSize) / (r.config.teacherToStudentResolutionScale ?? 1)).rounded(.down))
        let c = r.settings.config
        return MaskCollator(gridSize: size / patch, ratio: c.ibot.maskRatio, probability: c.ibot.maskSampleProbability, variant: .dinov3,
                            maxPatches: BlockMaskGenerator.referenceMaxPatches(cropSize: size, patchSize: patch))
    }

    public static func schedules(_ r: ResolvedDistillation) -> ScheduleSet { r.settings.schedules }
    public static func trainerOptions(_ r: ResolvedDistillation) -> TrainerOptions { r.settings.trainerOptions }

    /// Runs recorded before `student.layerscale` existed built their ViT students with the
    /// reference's 1e-5 (laid under the stored tree: what the run recorded wins).
    public static func migrateStoredConfig(_ tree: JSONValue) -> JSONValue {
        JSONValue.object(["student": .object(["layerscale": .double(1e-5)])]).merged(with: tree)
    }

    public static func describe(_ r: ResolvedDistillation, context: MethodContext) -> String {
        let c = r.config, s = r.settings, t = r.teacher
        return """
        distill: teacher \(t.backbone.embedDimensions) wide, depth \(t.backbone.config.depth) \
        (\(c.teacherRun ?? c.teacherWeights ?? "random weights")) → \(r.students.count == 1 ? "student" : "students") \
        \(r.students.map { "\($0.settings.config.model) (\($0.settings.model.embedDimensions) wide, \(ConvNeXtPresets.all[$0.settings.config.model] == nil ? "depth" : "ConvNeXt blocks") \($0.settings.model.depth)\($0.settings.model.layerScaleInit.map { ", LayerScale \($0)" } ?? ""))" }.joined(separator: ", ")), \(context.dataset.count) images, \(s.stepsPerEpoch) steps/epoch × \
        \(c.epochs) epochs, batch \(c.batchSize), \(t.head.prototypes) prototypes, lr \(s.peakLearningRate), threads \(Threads.count)
        """
    }

    /// The student's EMA backbone; of the first student when there are several.
    public static func exportedModel(_ c: DistillationConfig) throws -> ExportedModel {
        try exportedModel(c, student: nil)
    }

    /// The EMA backbone of `student` (a preset of `model`; nil: the first), whose checkpoint
    /// tensors are `NAME.student_ema.backbone.…` when several students trained.
    public static func exportedModel(_ c: DistillationConfig, student: String?) throws -> ExportedModel {
        let models = c.studentModels
        if models.count == 1 {
            if let student, student != models[0] {
                throw MethodError.unsupported("this distill run has one student, \(models[0]), not '\(student)'")
            }
            return ExportedModel(model: c.model, inputSize: c.crops.globalSize, backbonePrefix: emaPrefix)
        }
        let name = student ?? models[0]
        guard models.contains(name) else {
            throw MethodError.unsupported("this distill run's students are \(models.joined(separator: ", ")), not '\(name)'")
        }
        return ExportedModel(model: name, inputSize: c.crops.globalSize, backbonePrefix: name + "." + emaPrefix)
    }
}
