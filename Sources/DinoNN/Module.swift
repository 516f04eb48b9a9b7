// Modules and parameters: the tree of layers, discovered by reflection.
//
// A `Module` is a class whose stored properties are its parameters (`Parameter`) and its
// children (`Module`, `[Module]`, optionals of either). Nothing is registered by hand: the
// tree is read with `Mirror`, so a layer cannot forget to list a weight. The name of a child
// on disk is its Swift name, or the key given with `@Key("…")` where the checkpoint's
// name differs (`@Key("cls_token") var classToken`), as mlx-swift's `@ModuleInfo(key:)`.
// Full names join the path with dots, as PyTorch's `state_dict()`: `blocks.0.attn.qkv.weight`.
//
// Parameters are created with a shape and a constant fill and get their storage on first
// use, so a 1-billion-parameter model can be built, listed and counted without allocating
// it. Random initialisation is a separate, explicit pass (`Initialization.swift`).

import DinoTensor

/// What a parameter is, declared by the layer that creates it.
///
/// The optimiser builds its groups from these (no weight decay for biases, norms and layer
/// scales; a learning-rate multiplier for the patch embedding; layer-wise decay by
/// `layerIndex`) — never by matching names.
public enum ParameterKind: String, Sendable, Codable, CaseIterable {
    /// A weight matrix of a linear map (or the patch-embedding projection).
    case weight
    /// An additive bias.
    case bias
    /// Scale or shift of a normalisation layer.
    case normalization
    /// The per-channel gain of LayerScale (`gamma`).
    case layerScale
    /// A learned token: class, register or mask token.
    case token
    /// A learned absolute position embedding.
    case positionEmbedding
    /// A tensor saved with the model but never trained (RoPE periods, bias masks).
    case buffer
}

/// A learnable tensor (or a saved buffer) of a module, with its role.
///
/// The tensor is allocated lazily, filled with `fill`, on the first read of `value`.
public final class Parameter: @unchecked Sendable, CustomStringConvertible {
    /// How a parameter is filled when first materialised.
    public enum Fill {
        case constant(Double)
        /// Computed values (for buffers such as RoPE periods); must return `shape`.
        case computed(() -> Tensor)
    }

    public let shape: [Int]
    public let kind: ParameterKind
    /// The element type (changed only by `cast(to:)`).
    public private(set) var dtype: DType
    /// True for parameters of the patch embedding (DINOv2 trains them with a smaller rate).
    public var isPatchEmbedding = false
    /// Depth of the layer that owns the parameter, for layer-wise learning-rate decay:
    /// 0 for embeddings and tokens, `i + 1` for block `i`, `depth + 1` after the blocks.
    public var layerIndex: Int?
    private let fill: Fill
    private var storage: Tensor?

    public init(shape: [Int], kind: ParameterKind, fill: Fill = .constant(0), dtype: DType = .float32) {
        self.shape = shape
        self.kind = kind
        self.fill = fill
        self.dtype = dtype
    }

    /// A parameter holding `tensor` (its shape and dtype), e.g. a loaded weight.
    public convenience init(_ tensor: Tensor, kind: ParameterKind) {
        self.init(shape: tensor.shape, kind: kind, dtype: tensor.dtype)
        self.value = tensor
    }

    /// Whether the tensor has been allocated yet.
    public var isMaterialized: Bool { storage != nil }

    /// Number of scalars.
    public var count: Int { shape.reduce(1, *) }

    /// Trainable parameters require gradients; buffers never do.
    public var isTrainable: Bool { kind != .buffer }

    /// The tensor: a contiguous leaf, allocated and filled on first read.
    public var value: Tensor {
        get {
            if let storage { return storage }
            let t: Tensor
            switch fill {
            case .constant(let v):
                t = Tensor.full(shape, v, dtype: dtype)
            case .computed(let make):
                let made = make()
                precondition(made.shape == shape,
                             "Parameter: computed fill has shape \(made.shape), expected \(shape)")
                t = made.to(dtype).contiguousCopy()
            }
            if isTrainable { t.requiresGrad = true }
            storage = t
            return t
        }
        set {
            precondition(newValue.shape == shape,
                         "Parameter: cannot assign a tensor of shape \(newValue.shape) to a parameter of shape \(shape)")
            let t = newValue.isLeaf && newValue.isContiguous ? newValue : newValue.detach().contiguousCopy()
            if isTrainable && !t.requiresGrad { t.requiresGrad = true }
            storage = t
        }
    }

    /// Gradient accumulated on the tensor, if any.
    public var grad: Tensor? { storage?.grad }

    /// Converts the parameter to `target`: the values (exactly, when widening), a new leaf
    /// that keeps the old one's `requiresGrad` (a frozen teacher stays frozen); the gradient
    /// is dropped. An unallocated parameter is filled in `target` when first read. Tensors
    /// taken from `value` before the cast (optimiser groups) still point to the old one.
    public func cast(to target: DType) {
        guard target != dtype else { return }
        dtype = target
        guard let old = storage else { return }
        let t = withNoGrad { old.detach().to(target) }
        t.requiresGrad = old.requiresGrad
        storage = t
    }

    public var description: String { "Parameter(\(kind), shape: \(shape))" }
}

/// Gives a child or parameter a checkpoint name different from its Swift name.
///
///     @Key("cls_token") public var classToken: Parameter
///
/// The key may also be chosen when the module is built (`_tokens = Key(wrappedValue: t, "storage_tokens")`).
@propertyWrapper
public struct Key<Value> {
    var value: Value?
    public let key: String

    public var wrappedValue: Value {
        get {
            if let value { return value }
            // An unassigned optional property reads as nil.
            if let optional = Value.self as? ExpressibleByNilLiteral.Type {
                return optional.init(nilLiteral: ()) as! Value
            }
            preconditionFailure("Key(\"\(key)\"): read before it was assigned")
        }
        set { value = newValue }
    }

    public init(_ key: String) { self.key = key }

    public init(wrappedValue: Value, _ key: String) {
        self.value = wrappedValue
        self.key = key
    }
}

/// Type-erased view of a `Key` wrapper for reflection.
protocol KeyedProperty {
    var key: String { get }
    var anyValue: Any? { get }
}

extension Key: KeyedProperty {
    var anyValue: Any? { value }
}

/// A layer that maps one tensor to one tensor (MLP, SwiGLU, norms): lets blocks hold any of them.
public protocol UnaryLayer: AnyObject {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// The base class of every layer and model: parameters and children found by reflection.
open class Module {
    /// Training mode: enables drop-path, dropout and RoPE coordinate augmentation.
    public private(set) var training = true

    public init() {}

    /// One level of the tree: (name, parameter) and (name, child module) in declaration order.
    public final func items() -> (parameters: [(String, Parameter)], children: [(String, Module)]) {
        var parameters: [(String, Parameter)] = []
        var children: [(String, Module)] = []
        func visit(_ name: String, _ value: Any) {
            if let p = value as? Parameter {
                parameters.append((name, p))
            } else if let m = value as? Module {
                children.append((name, m))
            } else if let list = value as? [Module] {
                for (i, m) in list.enumerated() { children.append(("\(name).\(i)", m)) }
            }
        }
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [Mirror] = []
        while let m = mirror {
            levels.append(m)
            mirror = m.superclassMirror
        }
        // Base-class properties first, as PyTorch registers them in `__init__` order.
        for m in levels.reversed() {
            for child in m.children {
                guard let label = child.label else { continue }
                if let keyed = child.value as? KeyedProperty {
                    if let v = keyed.anyValue {
                        let name = keyed.key.isEmpty ? String(label.dropFirst()) : keyed.key
                        visit(name, v)
                    }
                } else {
                    visit(label, child.value)
                }
            }
        }
        return (parameters, children)
    }

    /// Direct children with their names.
    public final func namedChildren() -> [(String, Module)] { items().children }

    /// Every module below this one (this one first), with dotted names ("" for self).
    public final func namedModules() -> [(String, Module)] {
        var out: [(String, Module)] = [("", self)]
        for (name, child) in namedChildren() {
            for (sub, m) in child.namedModules() {
                out.append((sub.isEmpty ? name : "\(name).\(sub)", m))
            }
        }
        return out
    }

    /// Every parameter and buffer of the tree, with dotted names, in declaration order.
    public final func namedTensors() -> [(String, Parameter)] {
        let (params, children) = items()
        var out = params
        for (name, child) in children {
            for (sub, p) in child.namedTensors() { out.append(("\(name).\(sub)", p)) }
        }
        return out
    }

    /// Trainable parameters with dotted names (buffers excluded).
    public final func namedParameters() -> [(String, Parameter)] {
        namedTensors().filter { $0.1.isTrainable }
    }

    /// Saved, non-trained tensors with dotted names.
    public final func namedBuffers() -> [(String, Parameter)] {
        namedTensors().filter { !$0.1.isTrainable }
    }

    /// Trainable parameters in declaration order.
    public final func parameters() -> [Parameter] { namedParameters().map { $0.1 } }

    /// Number of trainable scalars, read from shapes (allocates nothing).
    public final var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Sets training mode on this module and every descendant.
    public final func train(_ on: Bool = true) {
        for (_, m) in namedModules() { m.training = on }
    }

    /// Sets evaluation mode (`train(false)`).
    public final func eval() { train(false) }

    /// Stops (or restarts) gradients for every trainable parameter, e.g. for an EMA teacher.
    public final func freeze(_ frozen: Bool = true) {
        for p in parameters() { p.value.requiresGrad = !frozen }
    }

    /// Clears accumulated gradients.
    public final func zeroGrad() {
        for p in parameters() where p.isMaterialized { p.value.zeroGrad() }
    }

    /// Converts every parameter and buffer below to `dtype` (`Parameter.cast(to:)`), e.g. a
    /// model initialised in Float32 to Float64 for `precision: float64`. Call it before
    /// optimiser groups are taken from the parameters.
    public final func cast(to dtype: DType) {
        for (_, p) in namedTensors() { p.cast(to: dtype) }
    }

    /// Marks every parameter below as belonging to layer `index` (layer-wise lr decay).
    public final func setLayerIndex(_ index: Int) {
        for (_, p) in namedTensors() { p.layerIndex = index }
    }

    /// Marks every parameter below as part of the patch embedding.
    public final func markPatchEmbedding() {
        for (_, p) in namedTensors() { p.isPatchEmbedding = true }
    }
}
