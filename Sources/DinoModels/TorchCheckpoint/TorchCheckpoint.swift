// Reading PyTorch `.pth` checkpoints (ZIP format) into tensors, without running any code.
//
// A checkpoint is a ZIP archive `<name>/data.pkl` + `<name>/data/<key>`: the pickle
// describes the object tree and each tensor as a strided view of a storage entry. We run the
// pickle with `RestrictedUnpickler`, pick the state dict out of training checkpoints
// (`teacher`, `student`, `model` sub-dictionaries, as the official evaluation code does),
// and read each storage once, converting half, bfloat16, double and integer elements to
// Float32.

import DinoNN
import DinoTensor
import Foundation

/// A PyTorch checkpoint opened for reading.
public struct TorchCheckpoint {
    public let archive: ZipArchive
    /// The archive's top directory (`archive/`, `dino_vits16/`, …), with the slash.
    public let prefix: String
    /// The unpickled object tree.
    public let root: PickleValue

    /// Opens `url` and runs its pickle.
    ///
    /// - Parameter allowUnknownObjects: replace objects of classes other than tensors and
    ///   containers (such as `argparse.Namespace` in training checkpoints) by placeholders
    ///   instead of failing. No code is run either way.
    public init(url: URL, allowUnknownObjects: Bool = false) throws {
        archive = try ZipArchive(url: url)
        guard let pickle = archive.names.first(where: { $0.hasSuffix("data.pkl") && $0.split(separator: "/").count <= 2 }) else {
            throw CheckpointLayoutError("\(url.path): no data.pkl in the archive; not a PyTorch checkpoint")
        }
        prefix = String(pickle.dropLast("data.pkl".count))
        var unpickler = RestrictedUnpickler(try archive.read(pickle), allowUnknownObjects: allowUnknownObjects)
        do {
            root = try unpickler.load()
        } catch let error as UnpicklingError {
            throw CheckpointLayoutError("\(url.path): \(error.message)")
        }
    }

    /// The keys of the top-level dictionary (empty if the root is not a dictionary).
    public var topLevelKeys: [String] {
        guard case .dict(let d) = root else { return [] }
        return d.keys.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
    }

    /// The tensors of a state dict inside the checkpoint, by dotted key.
    ///
    /// - Parameter key: the state dict to take (`teacher`, `student`, …; default `teacher`):
    ///   the top-level entry of that name; else, inside `model` or `state_dict` (or the root),
    ///   the keys that start with `key.` (DINOv2's `model` dict holds `teacher.backbone.…`),
    ///   with the prefix removed; else, when no key was asked for, all tensors of `model`,
    ///   `state_dict` or the root (a plain state dict).
    public func stateDict(key: String? = nil) throws -> [String: Tensor] {
        let wanted = key ?? "teacher"
        var node = root
        var fromPrefix = false
        if case .dict(let d) = root {
            if let sub = d[wanted] {
                node = sub
            } else if let container = ["model", "state_dict"].lazy.compactMap({ d[$0] }).first {
                node = container
                fromPrefix = true
            } else {
                fromPrefix = true
            }
        }
        var refs = TorchCheckpoint.flattenTensors(node)
        // DINOv2 training checkpoints: {"model": {"teacher.backbone.…": …, "student.…": …}}.
        if fromPrefix {
            let sub = refs.filter { $0.key.hasPrefix(wanted + ".") }
            if !sub.isEmpty {
                refs = Dictionary(uniqueKeysWithValues: sub.map { (String($0.key.dropFirst(wanted.count + 1)), $0.value) })
            } else if key != nil {
                throw CheckpointLayoutError("no '\(wanted)' state dict in the checkpoint; top-level keys: \(topLevelKeys.joined(separator: ", "))")
            }
        }
        guard !refs.isEmpty else { throw CheckpointLayoutError("no tensors found in the checkpoint") }
        return try materialize(refs)
    }

    /// Every tensor below `value`, by dotted path of dictionary keys (and list indices).
    static func flattenTensors(_ value: PickleValue, prefix: String = "") -> [String: TorchTensorRef] {
        var out: [String: TorchTensorRef] = [:]
        func join(_ k: String) -> String { prefix.isEmpty ? k : "\(prefix).\(k)" }
        switch value {
        case .tensor(let t):
            out[prefix] = t
        case .dict(let d):
            for (k, v) in Swift.zip(d.keys, d.values) {
                let name: String
                switch k {
                case .string(let s): name = s
                case .int(let i): name = "\(i)"
                default: continue
                }
                out.merge(flattenTensors(v, prefix: join(name))) { a, _ in a }
            }
        case .list(let l):
            for (i, v) in l.items.enumerated() { out.merge(flattenTensors(v, prefix: join("\(i)"))) { a, _ in a } }
        default:
            break
        }
        return out
    }

    /// Reads each storage once and cuts the tensors out of it.
    private func materialize(_ refs: [String: TorchTensorRef]) throws -> [String: Tensor] {
        var storages: [String: [Float]] = [:]
        var out: [String: Tensor] = [:]
        for (name, ref) in refs.sorted(by: { $0.key < $1.key }) {
            if storages[ref.storage.key] == nil {
                storages[ref.storage.key] = try readStorage(ref.storage)
            }
            let values = storages[ref.storage.key]!
            let count = ref.shape.reduce(1, *)
            var last = ref.offset
            for (d, s) in Swift.zip(ref.shape, ref.strides) where d > 0 { last += (d - 1) * s }
            guard count == 0 || (ref.offset >= 0 && last < values.count) else {
                throw CheckpointLayoutError("tensor '\(name)' of shape \(ref.shape) reaches past its storage of \(values.count) elements")
            }
            let storage = Tensor(values, shape: [values.count])
            let view = Tensor(storage: storage.storage, shape: ref.shape, strides: ref.strides, offset: ref.offset)
            out[name] = view.contiguousCopy()
        }
        return out
    }

    /// A storage's elements as Float32.
    private func readStorage(_ s: TorchStorage) throws -> [Float] {
        let data = try archive.read("\(prefix)data/\(s.key)", length: UInt64(s.count * s.type.size))
        return data.withUnsafeBytes { raw -> [Float] in
            func load<T>(_: T.Type, _ i: Int) -> T { raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self) }
            switch s.type {
            case .float: return (0..<s.count).map { Float(bitPattern: UInt32(littleEndian: load(UInt32.self, $0))) }
            case .double: return (0..<s.count).map { Float(Double(bitPattern: UInt64(littleEndian: load(UInt64.self, $0)))) }
            case .half: return (0..<s.count).map { floatFromHalfBits(UInt16(littleEndian: load(UInt16.self, $0))) }
            case .bfloat16: return (0..<s.count).map { floatFromBFloat16Bits(UInt16(littleEndian: load(UInt16.self, $0))) }
            case .long: return (0..<s.count).map { Float(Int64(littleEndian: load(Int64.self, $0))) }
            case .int: return (0..<s.count).map { Float(Int32(littleEndian: load(Int32.self, $0))) }
            case .bool: return (0..<s.count).map { load(UInt8.self, $0) != 0 ? 1 : 0 }
            }
        }
    }
}
