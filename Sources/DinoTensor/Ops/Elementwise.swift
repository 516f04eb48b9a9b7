// Elementwise kernels: the generic engines for unary and broadcasting binary maps.
//
// Every elementwise op is written as a scalar closure handed to one of these engines. The
// engines are `@inline(__always)`, so the closure is specialised and inlined into the loop
// for each dtype; contiguous operands take a straight loop the compiler vectorises, strided
// or broadcast operands walk rows with `forEachRow`.

extension Tensor {
    /// `out[i] = f(x[i])` into a new contiguous tensor (off the tape).
    @inline(__always)
    func mapKernel<T: TensorScalar>(_: T.Type, _ f: (T) -> T) -> Tensor {
        let out = Tensor(storage: TensorStorage(dtype: dtype, count: count, zeroed: false), shape: shape)
        let o = out.pointer(T.self)
        let x = pointer(T.self)
        if isContiguous {
            parallelFor(count) { r in
                for i in r { o[i] = f(x[i]) }
            }
        } else {
            forEachRow(shape: shape, strides: [strides, out.strides]) { off, n, inner in
                let xs = inner[0], xp = x + off[0], op = o + off[1]
                for i in 0..<n { op[i] = f(xp[i * xs]) }
            }
        }
        return out
    }

    /// `out[i] = f(a[i], b[i])` with NumPy broadcasting, into a new contiguous tensor (off the tape).
    @inline(__always)
    static func zipKernel<T: TensorScalar>(_ a: Tensor, _ b: Tensor, op: String, _: T.Type,
                                           _ f: (T, T) -> T) -> Tensor {
        precondition(a.dtype == b.dtype, "\(op): dtypes \(a.dtype) and \(b.dtype) differ")
        guard let shape = broadcastShapes(a.shape, b.shape) else {
            preconditionFailure("\(op): shapes \(fmt(a.shape)) and \(fmt(b.shape)) cannot broadcast")
        }
        let out = Tensor(storage: TensorStorage(dtype: a.dtype, count: shapeCount(shape), zeroed: false), shape: shape)
        let o = out.pointer(T.self)
        let ap = a.pointer(T.self), bp = b.pointer(T.self)
        if a.shape == shape && b.shape == shape && a.isContiguous && b.isContiguous {
            parallelFor(out.count) { r in
                for i in r { o[i] = f(ap[i], bp[i]) }
            }
            return out
        }
        let av = a.expandedView(to: shape, op: op), bv = b.expandedView(to: shape, op: op)
        forEachRow(shape: shape, strides: [av.strides, bv.strides, out.strides]) { off, n, inner in
            let x = ap + off[0], y = bp + off[1], z = o + off[2]
            let sx = inner[0], sy = inner[1]
            if sx == 1 && sy == 1 {
                for i in 0..<n { z[i] = f(x[i], y[i]) }
            } else if sx == 1 && sy == 0 {
                let yv = y[0]
                for i in 0..<n { z[i] = f(x[i], yv) }
            } else if sx == 0 && sy == 1 {
                let xv = x[0]
                for i in 0..<n { z[i] = f(xv, y[i]) }
            } else {
                for i in 0..<n { z[i] = f(x[i * sx], y[i * sy]) }
            }
        }
        return out
    }

    /// Dispatches a unary map on dtype.
    @inline(__always)
    func map(_ f32: (Float) -> Float, _ f64: (Double) -> Double) -> Tensor {
        switch dtype {
        case .float32: return mapKernel(Float.self, f32)
        case .float64: return mapKernel(Double.self, f64)
        }
    }

    /// Dispatches a broadcasting binary map on dtype.
    @inline(__always)
    static func zipMap(_ a: Tensor, _ b: Tensor, op: String,
                    _ f32: (Float, Float) -> Float, _ f64: (Double, Double) -> Double) -> Tensor {
        switch a.dtype {
        case .float32: return zipKernel(a, b, op: op, Float.self, f32)
        case .float64: return zipKernel(a, b, op: op, Double.self, f64)
        }
    }

    /// Adds `other` (broadcast to this shape) into this tensor in place, off the tape.
    public func addInPlace(_ other: Tensor, alpha: Double = 1) {
        precondition(other.dtype == dtype, "addInPlace: \(other.dtype) into \(dtype)")
        let src = other.shape == shape ? other : other.expandedView(to: shape, op: "addInPlace")
        func run<T: TensorScalar>(_: T.Type) {
            let s = src.pointer(T.self), d = pointer(T.self)
            let a = T(alpha)
            forEachRow(shape: shape, strides: [src.strides, strides]) { off, n, inner in
                let sp = s + off[0], dp = d + off[1]
                let ss = inner[0], ds = inner[1]
                if ss == 1 && ds == 1 {
                    for i in 0..<n { dp[i] += a * sp[i] }
                } else {
                    for i in 0..<n { dp[i * ds] += a * sp[i * ss] }
                }
            }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
    }
}

// MARK: - Arithmetic with broadcasting

extension Tensor {
    /// Reduces a broadcast gradient back to `target` shape by summing the broadcast dimensions.
    public func sum(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        precondition(lead >= 0, "sum(toShape:): cannot reduce \(fmt(shape)) to \(fmt(target))")
        var axes = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && shape[lead + i] != 1 {
            axes.append(lead + i)
        }
        return sum(axes: axes, keepDims: true).reshape(target)
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, op: "add", { $0 + $1 }, { $0 + $1 })
        return record(out, op: .add, inputs: [a, b]) { g in
            [a.requiresGrad ? g.sum(toShape: a.shape) : nil,
             b.requiresGrad ? g.sum(toShape: b.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, op: "sub", { $0 - $1 }, { $0 - $1 })
        return record(out, op: .sub, inputs: [a, b]) { g in
            [a.requiresGrad ? g.sum(toShape: a.shape) : nil,
             b.requiresGrad ? (-g).sum(toShape: b.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, op: "mul", { $0 * $1 }, { $0 * $1 })
        return record(out, op: .mul, inputs: [a, b]) { g in
            [a.requiresGrad ? (g * b).sum(toShape: a.shape) : nil,
             b.requiresGrad ? (g * a).sum(toShape: b.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, op: "div", { $0 / $1 }, { $0 / $1 })
        return record(out, op: .div, inputs: [a, b]) { g in
            [a.requiresGrad ? (g / b).sum(toShape: a.shape) : nil,
             b.requiresGrad ? (-(g * a) / (b * b)).sum(toShape: b.shape) : nil]
        }
    }

    public static prefix func - (x: Tensor) -> Tensor {
        let out = x.map({ -$0 }, { -$0 })
        return record(out, op: .neg, inputs: [x]) { g in [-g] }
    }

    public static func + (x: Tensor, s: Double) -> Tensor {
        let f = Float(s)
        let out = x.map({ $0 + f }, { $0 + s })
        return record(out, op: .addScalar, inputs: [x]) { g in [g] }
    }

    public static func - (x: Tensor, s: Double) -> Tensor { x + (-s) }

    public static func * (x: Tensor, s: Double) -> Tensor {
        let f = Float(s)
        let out = x.map({ $0 * f }, { $0 * s })
        return record(out, op: .mulScalar, inputs: [x]) { g in [g * s] }
    }

    public static func / (x: Tensor, s: Double) -> Tensor { x * (1 / s) }

    public static func + (s: Double, x: Tensor) -> Tensor { x + s }
    public static func * (s: Double, x: Tensor) -> Tensor { x * s }
    public static func - (s: Double, x: Tensor) -> Tensor { (-x) + s }

    public static func / (s: Double, x: Tensor) -> Tensor {
        let f = Float(s)
        let out = x.map({ f / $0 }, { s / $0 })
        // d(s/x)/dx = −s/x²; written from x alone so the closure holds no reference to `out`.
        return record(out, op: .rdivScalar, inputs: [x]) { g in [(g * -s) / (x * x)] }
    }
}
