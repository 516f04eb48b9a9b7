// A restricted unpickler for PyTorch checkpoints: data only, never code.
//
// Python's pickle is a small stack machine whose GLOBAL and REDUCE opcodes name and call
// arbitrary functions — loading an untrusted `.pth` with `pickle` runs whatever it says.
// This machine knows the opcodes of protocols 0–5 that describe data (dicts, lists, tuples,
// strings, numbers, booleans, None) and exactly these callables, which it interprets itself
// rather than calls:
//   collections.OrderedDict                     → a dictionary
//   torch._utils._rebuild_tensor_v2             → a tensor view of a storage
//   torch._utils._rebuild_parameter             → its tensor
//   torch.{Float,Half,BFloat16,Double,Long,Int,Bool}Storage  (via persistent ids)
// Any other GLOBAL is refused with an error naming it, unless the caller opts in to
// placeholders (`allowUnknownObjects`), which stand for the object without building it.
//
// Reference: Python Lib/pickle.py and Lib/pickletools.py (opcode table); PyTorch
// torch/serialization.py `_load` (persistent ids) and torch/_utils.py `_rebuild_tensor_v2`.

import Foundation

/// Element types of PyTorch storages.
public enum TorchStorageType: String, Sendable {
    case float = "FloatStorage", half = "HalfStorage", bfloat16 = "BFloat16Storage", double = "DoubleStorage"
    case long = "LongStorage", int = "IntStorage", bool = "BoolStorage"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float, .int: return 4
        case .half, .bfloat16: return 2
        case .double, .long: return 8
        case .bool: return 1
        }
    }
}

/// A storage in the archive: entry `data/<key>`, `count` elements.
public struct TorchStorage: Sendable, Equatable {
    public let key: String
    public let type: TorchStorageType
    public let count: Int
}

/// A tensor described by the pickle: a strided view of a storage, read later.
public struct TorchTensorRef: Sendable, Equatable {
    public let storage: TorchStorage
    public let offset: Int
    public let shape: [Int]
    public let strides: [Int]
}

/// Mutable containers (pickle builds dicts and lists after memoising them).
public final class PickleDict {
    public var keys: [PickleValue] = []
    public var values: [PickleValue] = []

    func set(_ key: PickleValue, _ value: PickleValue) {
        if let i = keys.firstIndex(of: key) { values[i] = value } else { keys.append(key); values.append(value) }
    }

    /// The value for a string key.
    public subscript(_ key: String) -> PickleValue? {
        keys.firstIndex(of: .string(key)).map { values[$0] }
    }
}

public final class PickleList {
    public var items: [PickleValue] = []
}

/// A value of the restricted pickle machine.
public enum PickleValue: Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case tensor(TorchTensorRef)
    case storage(TorchStorage)
    /// An allowed callable named by GLOBAL, before REDUCE applies it.
    case global(String)
    /// An object of a refused class, kept only as its name (`allowUnknownObjects`).
    case placeholder(String)

    public static func == (a: PickleValue, b: PickleValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.bytes(x), .bytes(y)): return x == y
        case let (.tuple(x), .tuple(y)): return x == y
        case let (.list(x), .list(y)): return x === y
        case let (.dict(x), .dict(y)): return x === y
        case let (.tensor(x), .tensor(y)): return x == y
        case let (.storage(x), .storage(y)): return x == y
        case let (.global(x), .global(y)): return x == y
        case let (.placeholder(x), .placeholder(y)): return x == y
        default: return false
        }
    }
}

/// Errors of the restricted unpickler.
public struct UnpicklingError: Error, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs a pickle program over the restricted set of objects.
public struct RestrictedUnpickler {
    private static let allowedCallables: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    ]

    private let data: [UInt8]
    private let allowUnknownObjects: Bool
    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    /// - Parameters:
    ///   - data: the pickle bytes (`data.pkl`).
    ///   - allowUnknownObjects: stand refused objects in with `.placeholder` instead of failing.
    public init(_ data: Data, allowUnknownObjects: Bool = false) {
        self.data = [UInt8](data)
        self.allowUnknownObjects = allowUnknownObjects
    }

    /// Runs the program to STOP and returns the object it built.
    public mutating func load() throws -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                     // PROTO
            case 0x95: _ = try bytes(8)                                   // FRAME
            case 0x2E: return try pop()                                   // STOP
            case 0x28: marks.append(stack.count)                          // MARK
            case 0x7D: stack.append(.dict(PickleDict()))                  // EMPTY_DICT
            case 0x5D: stack.append(.list(PickleList()))                  // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))                           // EMPTY_TUPLE
            case 0x8F: stack.append(.list(PickleList()))                  // EMPTY_SET (as a list)
            case 0x74: stack.append(.tuple(try popMark()))                // TUPLE
            case 0x85: let a = try pop(); stack.append(.tuple([a]))       // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))
            case 0x91: stack.append(.tuple(try popMark()))                // FROZENSET
            case 0x4E: stack.append(.none)                                // NONE
            case 0x88: stack.append(.bool(true))                          // NEWTRUE
            case 0x89: stack.append(.bool(false))                         // NEWFALSE
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: UInt32(try littleEndian(4))))))  // BININT
            case 0x4B: stack.append(.int(Int(try byte())))                // BININT1
            case 0x4D: stack.append(.int(Int(try littleEndian(2))))       // BININT2
            case 0x8A: stack.append(.int(try long(Int(try byte()))))      // LONG1
            case 0x8B: stack.append(.int(try long(Int(try littleEndian(4)))))   // LONG4
            case 0x47:                                                    // BINFLOAT (big-endian)
                let b = try bytes(8)
                stack.append(.float(Double(bitPattern: b.reduce(0) { $0 << 8 | UInt64($1) })))
            case 0x49:                                                    // INT (text)
                let line = try textLine()
                if line == "01" { stack.append(.bool(true)) } else if line == "00" { stack.append(.bool(false)) } else {
                    guard let v = Int(line) else { throw UnpicklingError("bad INT '\(line)'") }
                    stack.append(.int(v))
                }
            case 0x4C:                                                    // LONG (text)
                let line = try textLine()
                guard let v = Int(line.hasSuffix("L") ? String(line.dropLast()) : line) else { throw UnpicklingError("bad LONG '\(line)'") }
                stack.append(.int(v))
            case 0x46:                                                    // FLOAT (text)
                let line = try textLine()
                guard let v = Double(line) else { throw UnpicklingError("bad FLOAT '\(line)'") }
                stack.append(.float(v))
            case 0x58: stack.append(.string(try utf8(Int(try littleEndian(4)))))  // BINUNICODE
            case 0x8C: stack.append(.string(try utf8(Int(try byte()))))           // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8(Int(try littleEndian(8)))))  // BINUNICODE8
            case 0x54: stack.append(.string(try latin1(Int(try littleEndian(4)))))  // BINSTRING
            case 0x55: stack.append(.string(try latin1(Int(try byte()))))         // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(try bytes(Int(try littleEndian(4)))))  // BINBYTES
            case 0x43: stack.append(.bytes(try bytes(Int(try byte()))))           // SHORT_BINBYTES
            case 0x8E: stack.append(.bytes(try bytes(Int(try littleEndian(8)))))  // BINBYTES8
            case 0x71: memo[Int(try byte())] = try top()                  // BINPUT
            case 0x72: memo[Int(try littleEndian(4))] = try top()         // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                       // MEMOIZE
            case 0x68: stack.append(try memoValue(Int(try byte())))       // BINGET
            case 0x6A: stack.append(try memoValue(Int(try littleEndian(4))))   // LONG_BINGET
            case 0x61:                                                    // APPEND
                let v = try pop()
                try appendItems([v])
            case 0x65: try appendItems(try popMark())                     // APPENDS
            case 0x90: try appendItems(try popMark())                     // ADDITEMS (set as list)
            case 0x73:                                                    // SETITEM
                let v = try pop(), k = try pop()
                try setItems([k, v])
            case 0x75: try setItems(try popMark())                        // SETITEMS
            case 0x63:                                                    // GLOBAL
                let module = try textLine(), name = try textLine()
                stack.append(try global(module, name))
            case 0x93:                                                    // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let n) = name, case .string(let m) = module else { throw UnpicklingError("STACK_GLOBAL needs two strings") }
                stack.append(try global(m, n))
            case 0x52:                                                    // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args))
            case 0x81:                                                    // NEWOBJ
                let args = try pop(), cls = try pop()
                stack.append(try reduce(cls, args))
            case 0x62:                                                    // BUILD: set attributes
                _ = try pop()                                             // state is ignored: dicts
                _ = try top()                                             // (OrderedDict._metadata) and placeholders
            case 0x51:                                                    // BINPERSID
                stack.append(try persistent(try pop()))
            default:
                throw UnpicklingError(String(format: "unsupported pickle opcode 0x%02X at byte %d", op, pos - 1))
            }
        }
    }

    // MARK: Objects

    private func global(_ module: String, _ name: String) throws -> PickleValue {
        let full = "\(module).\(name)"
        if RestrictedUnpickler.allowedCallables.contains(full) { return .global(full) }
        if module == "torch", let type = TorchStorageType(rawValue: name) { return .global("torch.\(type.rawValue)") }
        if allowUnknownObjects { return .placeholder(full) }
        throw UnpicklingError("refusing to unpickle '\(full)': a checkpoint may only hold tensors, storages, dicts, lists, tuples and plain scalars (this object is usually training state such as argparse arguments; converting with unknown objects allowed replaces it by a placeholder, and no code is ever run)")
    }

    private func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        if case .placeholder(let name) = callable { return .placeholder(name) }
        guard case .global(let name) = callable, case .tuple(let a) = args else {
            throw UnpicklingError("REDUCE of a non-callable value")
        }
        switch name {
        case "collections.OrderedDict":
            return .dict(PickleDict())
        case "torch._utils._rebuild_tensor_v2":
            guard a.count >= 4, case .storage(let s) = a[0], case .int(let offset) = a[1],
                  case .tuple(let size) = a[2], case .tuple(let stride) = a[3] else {
                throw UnpicklingError("_rebuild_tensor_v2: unexpected arguments")
            }
            let shape = try size.map { v -> Int in guard case .int(let i) = v else { throw UnpicklingError("bad tensor size") }; return i }
            let strides = try stride.map { v -> Int in guard case .int(let i) = v else { throw UnpicklingError("bad tensor stride") }; return i }
            return .tensor(TorchTensorRef(storage: s, offset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter":
            guard let first = a.first, case .tensor = first else { throw UnpicklingError("_rebuild_parameter: no tensor") }
            return first
        default:
            throw UnpicklingError("'\(name)' cannot be called")
        }
    }

    /// `('storage', torch.FloatStorage, key, location, count)`.
    private func persistent(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t) = pid, t.count >= 5, case .string("storage") = t[0],
              case .global(let typeName) = t[1], case .string(let key) = t[2], case .int(let count) = t[4],
              let type = TorchStorageType(rawValue: String(typeName.dropFirst("torch.".count))) else {
            if case .tuple(let t) = pid, t.count > 1, case .placeholder(let name) = t[1] {
                throw UnpicklingError("unsupported storage type '\(name)' (float, half, bfloat16, double, long, int and bool are supported)")
            }
            throw UnpicklingError("unsupported persistent id (not a tensor storage)")
        }
        return .storage(TorchStorage(key: key, type: type, count: count))
    }

    private mutating func appendItems(_ items: [PickleValue]) throws {
        switch try top() {
        case .list(let l): l.items.append(contentsOf: items)
        case .placeholder: break
        default: throw UnpicklingError("APPEND to a non-list")
        }
    }

    private mutating func setItems(_ items: [PickleValue]) throws {
        guard items.count % 2 == 0 else { throw UnpicklingError("SETITEMS with an odd number of items") }
        switch try top() {
        case .dict(let d): for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
        case .placeholder: break
        default: throw UnpicklingError("SETITEM on a non-dict")
        }
    }

    // MARK: Reading

    private mutating func byte() throws -> UInt8 {
        guard pos < data.count else { throw UnpicklingError("pickle ends without STOP") }
        defer { pos += 1 }
        return data[pos]
    }

    private mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, pos + n <= data.count else { throw UnpicklingError("pickle truncated (needs \(n) bytes at \(pos))") }
        defer { pos += n }
        return Array(data[pos..<(pos + n)])
    }

    private mutating func littleEndian(_ n: Int) throws -> UInt64 {
        try bytes(n).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Two's-complement little-endian integer of `n` bytes (LONG1/LONG4).
    private mutating func long(_ n: Int) throws -> Int {
        if n == 0 { return 0 }
        guard n <= 8 else { throw UnpicklingError("integer of \(n) bytes does not fit 64 bits") }
        let b = try bytes(n)
        var v = b.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if n < 8, b[n - 1] & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(n)) }
        return Int(Int64(bitPattern: v))
    }

    private mutating func utf8(_ n: Int) throws -> String { String(decoding: try bytes(n), as: UTF8.self) }

    private mutating func latin1(_ n: Int) throws -> String { String(try bytes(n).map { Character(Unicode.Scalar($0)) }) }

    private mutating func textLine() throws -> String {
        var out: [UInt8] = []
        while true {
            let b = try byte()
            if b == 0x0A { return String(decoding: out, as: UTF8.self) }
            out.append(b)
        }
    }

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw UnpicklingError("pickle stack underflow") }
        return v
    }

    private func top() throws -> PickleValue {
        guard let v = stack.last else { throw UnpicklingError("pickle stack underflow") }
        return v
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw UnpicklingError("pickle MARK missing") }
        defer { stack.removeSubrange(m...) }
        return Array(stack[m...])
    }

    private func memoValue(_ i: Int) throws -> PickleValue {
        guard let v = memo[i] else { throw UnpicklingError("pickle memo \(i) undefined") }
        return v
    }
}
