import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// A fresh empty folder, removed when the test's `defer` runs `cleanUp`.
private func temporaryFolder() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The bytes of a safetensors file with the given header text (unpadded) and buffer.
private func fileBytes(header: String, data: [UInt8] = []) -> [UInt8] {
    let h = Array(header.utf8)
    return withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h + data
}

/// Little-endian bytes of Float32 values.
private func f32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

/// Bit-exact equality (NaN equal to NaN), with the first difference described.
private func bitMismatch(_ actual: [Float], _ expected: [Float]) -> String? {
    guard actual.count == expected.count else { return "counts \(actual.count) vs \(expected.count)" }
    for (i, (a, e)) in zip(actual, expected).enumerated() where !(a.isNaN && e.isNaN) && a.bitPattern != e.bitPattern {
        return "element \(i): \(a) (0x\(String(a.bitPattern, radix: 16))) vs \(e) (0x\(String(e.bitPattern, radix: 16)))"
    }
    return nil
}

/// The name of an error's enum case (`"overlappingTensors"`).
private func caseName(_ error: Error) -> String {
    Mirror(reflecting: error).children.first?.label ?? "\(error)"
}

@Suite struct SafetensorsTests {
    // MARK: Round trips and layout

    @Test func roundTripKeepsValuesShapesDTypesAndMetadata() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        let tensors: [String: Tensor] = [
            "blocks.0.attn.qkv.weight": Tensor([1.5, -2, .infinity, -0.0, .leastNonzeroMagnitude, .nan], shape: [2, 3]),
            "pos_embed": Tensor(doubles: [1.0 / 3, -1e300, .leastNonzeroMagnitude, 2], shape: [1, 2, 2]),
            "scalar": Tensor(scalar: 42),
            "empty": Tensor(zeros: [0, 3]),
            "empty64": Tensor(zeros: [2, 0], dtype: .float64),
        ]
        let metadata = ["format": "pt", "quote\"and\\slash": "line\nbreak\ttab \u{1} é 🦖", "": "empty key"]
        try SafeTensors.write(tensors, metadata: metadata, to: url)

        let file = try SafeTensors.read(from: url)
        #expect(file.metadata == metadata)
        #expect(Set(file.tensors.keys) == Set(tensors.keys))
        for (name, t) in tensors {
            let r = try #require(file.tensors[name])
            #expect(r.shape == t.shape && r.dtype == t.dtype, "\(name)")
            #expect(!r.requiresGrad)
            if t.dtype == .float64 {
                #expect(r.doubles.map(\.bitPattern) == t.doubles.map(\.bitPattern), "\(name)")
            } else {
                #expect(bitMismatch(r.scalars, t.scalars) == nil, "\(name)")
            }
        }
        #expect(file.storedDTypes == ["blocks.0.attn.qkv.weight": "F32", "pos_embed": "F64", "scalar": "F32",
                                      "empty": "F32", "empty64": "F64"])
        // No temporary file is left next to the result.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.safetensors"])
    }

    @Test func writtenFileHasTheDocumentedLayout() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("layout.safetensors")
        try SafeTensors.write(["b": Tensor([3, 4, 5], shape: [3]), "a": Tensor([1, 2], shape: [2, 1])],
                              metadata: ["k": "v"], to: url)
        let bytes = [UInt8](try Data(contentsOf: url))
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + n) % 8 == 0)
        #expect(bytes.count == 8 + n + 5 * 4)
        let headerText = try #require(String(bytes: bytes[8..<(8 + n)], encoding: .utf8))
        #expect(headerText.hasPrefix("{") && headerText.trimmingCharacters(in: .init(charactersIn: " ")).hasSuffix("}"))
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        #expect(header["__metadata__"] as? [String: String] == ["k": "v"])
        let a = try #require(header["a"] as? [String: Any]), b = try #require(header["b"] as? [String: Any])
        #expect(a["dtype"] as? String == "F32" && a["shape"] as? [Int] == [2, 1] && a["data_offsets"] as? [Int] == [0, 8])
        #expect(b["dtype"] as? String == "F32" && b["shape"] as? [Int] == [3] && b["data_offsets"] as? [Int] == [8, 20])
        // Names sorted, data contiguous in that order, little-endian.
        #expect(headerText.range(of: "\"a\"")!.lowerBound < headerText.range(of: "\"b\"")!.lowerBound)
        #expect(Array(bytes[(8 + n)...]) == f32Bytes([1, 2, 3, 4, 5]))
    }

    @Test func nonContiguousViewsAreWrittenInRowMajorOrder() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("views.safetensors")
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        let permuted = x.permute([2, 0, 1])                                 // (4, 2, 3)
        let sliced = x.slice(axis: 2, start: 1, end: 4, step: 2)             // (2, 3, 2)
        let offsetRow = x.slice(axis: 0, start: 1)                           // contiguous, offset 12
        let expanded = Tensor([7, 8, 9], shape: [3, 1]).expand([2, 3, 2])  // stride 0
        try SafeTensors.write(["permuted": permuted, "sliced": sliced, "row": offsetRow, "expanded": expanded], to: url)
        let r = try SafeTensors.read(from: url).tensors

        // Expected values by index arithmetic: x[i, j, k] = 12i + 4j + k.
        var p: [Float] = []
        for k in 0..<4 { for i in 0..<2 { for j in 0..<3 { p.append(Float(12 * i + 4 * j + k)) } } }
        var s: [Float] = []
        for i in 0..<2 { for j in 0..<3 { for k in [1, 3] { s.append(Float(12 * i + 4 * j + k)) } } }
        var e: [Float] = []
        for _ in 0..<2 { for v in [Float(7), 8, 9] { e += [v, v] } }
        #expect(r["permuted"]?.shape == [4, 2, 3] && r["permuted"]?.scalars == p)
        #expect(r["sliced"]?.shape == [2, 3, 2] && r["sliced"]?.scalars == s)
        #expect(r["row"]?.shape == [1, 3, 4] && r["row"]?.scalars == (12..<24).map(Float.init))
        #expect(r["expanded"]?.shape == [2, 3, 2] && r["expanded"]?.scalars == e)
    }

    @Test func writeReplacesAtomicallyAndCleansUpOnFailure() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("ckpt.safetensors")
        try SafeTensors.write(["w": Tensor([1], shape: [1])], to: url)
        try SafeTensors.write(["w": Tensor([2, 3], shape: [2])], to: url)
        #expect(try SafeTensors.read(from: url).tensors["w"]?.scalars == [2, 3])

        // A reserved name fails before anything replaces the old file.
        let reserved = #expect(throws: SafeTensorsError.self) {
            try SafeTensors.write(["__metadata__": Tensor([1], shape: [1])], to: url)
        }
        #expect(reserved.map(caseName) == "invalidTensorName")
        #expect(try SafeTensors.read(from: url).tensors["w"]?.scalars == [2, 3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["ckpt.safetensors"])

        // A folder that does not exist: an I/O error naming the file.
        let nowhere = folder.appendingPathComponent("missing/ckpt.safetensors")
        let io = #expect(throws: SafeTensorsError.self) { try SafeTensors.write(["w": Tensor([1], shape: [1])], to: nowhere) }
        #expect(io.map(caseName) == "io")
        #expect(io.map { "\($0)".contains("missing/ckpt.safetensors") } == true)
    }

    // MARK: Files from the reference writer

    @Test func readsEdgeValuesWrittenByPythonSafetensors() throws {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let file = try SafeTensors.read(from: folder.appendingPathComponent("dtypes.safetensors"))
        let t = file.tensors
        #expect(file.metadata == ["format": "pt", "note": "edge values, written by safetensors.torch.save_file"])
        #expect(file.storedDTypes["f16"] == "F16" && file.storedDTypes["bf16"] == "BF16" && file.storedDTypes["i64"] == "I64")

        // F16 bits 0000 8000 3C00 C000 7BFF 0400 0001 03FF 8200 7C00 FC00 7E00 3555.
        let f16: [Float] = [0, -0.0, 1, -2, 65504, 0x1p-14, 0x1p-24, 1023 * 0x1p-24, -0x1p-15,
                            .infinity, -.infinity, .nan, 0x1.554p-2]
        #expect(t["f16"]?.shape == [13] && t["f16"]?.dtype == .float32)
        #expect(bitMismatch(t["f16"]?.scalars ?? [], f16) == nil)
        // BF16 bits 0000 8000 3F80 C040 7F7F 0080 0001 807F 7F80 FF80 7FC0 3EAB.
        let bf16: [Float] = [0, -0.0, 1, -3, 0x1.FEp127, 0x1p-126, 0x1p-133, -127 * 0x1p-133,
                             .infinity, -.infinity, .nan, 0x1.56p-2]
        #expect(t["bf16"]?.shape == [2, 6] && t["bf16"]?.dtype == .float32)
        #expect(bitMismatch(t["bf16"]?.scalars ?? [], bf16) == nil)
        let f32: [Float] = [0, -0.0, 1.5, -3.25, .greatestFiniteMagnitude, .leastNormalMagnitude,
                            .leastNonzeroMagnitude, .infinity, -.infinity, .nan]
        #expect(bitMismatch(t["f32"]?.scalars ?? [], f32) == nil)
        let f64 = try #require(t["f64"])
        #expect(f64.dtype == .float64)
        let d = f64.doubles
        #expect(d.count == 5 && d[0] == 1.0 / 3 && d[1] == -3 * Double.leastNonzeroMagnitude && d[2] == 1e308
                && d[3] == -.infinity && d[4].isNaN)
        #expect(t["scalar"]?.shape == [] && t["scalar"]?.scalars == [7.5])
        #expect(t["empty"]?.shape == [0, 3] && t["empty"]?.count == 0)
        #expect(t["i64"]?.shape == [2, 3] && t["i64"]?.scalars == [0, -5, 16_777_216, 7, 123, -16_777_216])
        #expect(t["i32"]?.scalars == [1, -2, 2_147_483_520])
        #expect(t["i16"]?.scalars == [-32768, 32767])
        #expect(t["i8"]?.scalars == [-128, 127])
        #expect(t["u8"]?.scalars == [0, 255, 17])
        #expect(t["bool"]?.scalars == [1, 0, 1])
        let header = try SafeTensors.readHeader(from: folder.appendingPathComponent("dtypes.safetensors"))
        #expect(header.entries.count == 12 && header.entries.first?.dataOffsets.lowerBound == 0)
        #expect(header.entries.first(where: { $0.name == "bf16" })?.shape == [2, 6])
    }

    @Test func unsignedIntegersAndBoolBytesConvert() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("ints.safetensors")
        let header = #"{"u16":{"dtype":"U16","shape":[2],"data_offsets":[0,4]},"# +
            #""u32":{"dtype":"U32","shape":[1],"data_offsets":[4,8]},"# +
            #""u64":{"dtype":"U64","shape":[1],"data_offsets":[8,16]},"# +
            #""b":{"dtype":"BOOL","shape":[2],"data_offsets":[16,18]}}"#
        let data: [UInt8] = [0xFF, 0xFF, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80,
                             0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x07]
        try Data(fileBytes(header: header, data: data)).write(to: url)
        let t = try SafeTensors.read(from: url).tensors
        #expect(t["u16"]?.scalars == [65535, 1])
        #expect(t["u32"]?.scalars == [2_147_483_648])
        #expect(t["u64"]?.scalars == [0x1p62])
        #expect(t["b"]?.scalars == [0, 1])
    }

    #if !(os(macOS) && arch(x86_64))
    @Test func halfConversionMatchesSwiftFloat16ForEveryBitPattern() {
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let actual = floatFromHalfBits(bits)
            if expected.isNaN {
                #expect(actual.isNaN)
            } else if actual.bitPattern != expected.bitPattern {
                Issue.record("F16 0x\(String(bits, radix: 16)): \(actual) vs \(expected)")
                return
            }
        }
    }
    #endif

    // MARK: Malformed files

    /// Writes `bytes` and returns the error reading them raises.
    private func readError(_ bytes: [UInt8], name: String = "bad.safetensors") throws -> SafeTensorsError? {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        do {
            _ = try SafeTensors.read(from: url)
            return nil
        } catch let error as SafeTensorsError {
            #expect("\(error)".contains(name), "message does not name the file: \(error)")
            return error
        }
    }

    /// A one-tensor header.
    private func singleEntry(name: String = "w", dtype: String = "F32", shape: String = "[2]", offsets: String = "[0, 8]") -> String {
        #"{"\#(name)": {"dtype": "\#(dtype)", "shape": \#(shape), "data_offsets": \#(offsets)}}"#
    }

    @Test func refusesBadSizesAndHeaderLengths() throws {
        #expect(try readError([]).map(caseName) == "fileTooSmall")
        #expect(try readError([1, 0, 0, 0, 0, 0, 0]).map(caseName) == "fileTooSmall")
        let huge = withUnsafeBytes(of: UInt64(100_000_001).littleEndian) { Array($0) } + Array("{}".utf8)
        #expect(try readError(huge).map(caseName) == "headerTooLarge")
        let maxLength = [UInt8](repeating: 0xFF, count: 8) + Array("{}".utf8)
        #expect(try readError(maxLength).map(caseName) == "headerTooLarge")
        let beyond = withUnsafeBytes(of: UInt64(100).littleEndian) { Array($0) } + Array("{}".utf8)
        #expect(try readError(beyond).map(caseName) == "headerBeyondFile")
        // A header of length 0 is not JSON.
        #expect(try readError(fileBytes(header: "")).map(caseName) == "invalidJSON")
        // The smallest valid file: an empty object and no data.
        #expect(try readError(fileBytes(header: "{}        ")) == nil)
    }

    @Test func refusesInvalidJSONAndHeaderTypes() throws {
        #expect(try readError(fileBytes(header: "{not json")).map(caseName) == "invalidJSON")
        #expect(try readError(fileBytes(header: #"{"w": {"dtype": "F32""#)).map(caseName) == "invalidJSON")
        let invalidUTF8 = withUnsafeBytes(of: UInt64(4).littleEndian) { Array($0) } + [0x7B, 0x22, 0xFF, 0x7D]
        #expect(try readError(invalidUTF8).map(caseName) == "invalidJSON")
        #expect(try readError(fileBytes(header: String(repeating: "[", count: 100_000))) != nil)
        #expect(try readError(fileBytes(header: "[1, 2]")).map(caseName) == "invalidHeader")
        #expect(try readError(fileBytes(header: #"{"__metadata__": {"a": 1}}"#)).map(caseName) == "invalidMetadata")
        #expect(try readError(fileBytes(header: #"{"__metadata__": ["a"]}"#)).map(caseName) == "invalidMetadata")
        #expect(try readError(fileBytes(header: #"{"__metadata__": null}"#)) == nil)
    }

    @Test func refusesMalformedEntriesNamingTheTensor() throws {
        let data = f32Bytes([1, 2])
        let bad: [String] = [
            #"{"w": 5}"#,
            #"{"w": {"shape": [2], "data_offsets": [0, 8]}}"#,
            singleEntry(shape: #""2""#),
            singleEntry(shape: "[2.5]"),
            singleEntry(shape: "[null]"),
            singleEntry(offsets: "[0, 4, 8]"),
            singleEntry(offsets: "[0]"),
            singleEntry(offsets: #"[0, "8"]"#),
            singleEntry(offsets: "[0, 1e30]"),
        ]
        for header in bad {
            let error = try readError(fileBytes(header: header, data: data))
            #expect(error.map(caseName) == "invalidEntry", "\(header)")
            #expect(error.map { "\($0)".contains("'w'") } == true, "\(header)")
        }
        // Unknown extra fields are ignored, as in the reference implementation.
        let extra = #"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "extra": [1]}}"#
        #expect(try readError(fileBytes(header: extra, data: data)) == nil)
    }

    @Test func refusesUnsupportedDTypes() throws {
        for dtype in ["F8_E4M3", "C64", "Q4", "f32"] {
            let error = try readError(fileBytes(header: singleEntry(name: "layer.scale", dtype: dtype), data: f32Bytes([1, 2])))
            #expect(error.map(caseName) == "unsupportedDType")
            #expect(error.map { "\($0)".contains("layer.scale") && "\($0)".contains(dtype) } == true)
        }
    }

    @Test func refusesBadShapesOffsetsAndSizes() throws {
        let data = f32Bytes([1, 2, 3])
        func kind(_ header: String, _ bytes: [UInt8]? = nil) throws -> String? {
            try readError(fileBytes(header: header, data: bytes ?? data)).map(caseName)
        }
        #expect(try kind(singleEntry(shape: "[-1, 2]")) == "invalidShape")
        #expect(try kind(singleEntry(shape: "[4294967296, 4294967296, 4]")) == "invalidShape")
        // A zero dimension makes the count 0 whatever the others are (here the data range is wrong).
        #expect(try kind(singleEntry(shape: "[4294967296, 4294967296, 0]")) == "sizeMismatch")
        #expect(try kind(singleEntry(offsets: "[-4, 8]")) == "invalidOffsets")
        #expect(try kind(singleEntry(offsets: "[8, 0]")) == "invalidOffsets")
        #expect(try kind(singleEntry(offsets: "[4, 16]")) == "invalidOffsets")
        #expect(try kind(singleEntry(shape: "[2]", offsets: "[0, 12]")) == "sizeMismatch")
        #expect(try kind(singleEntry(shape: "[]", offsets: "[0, 0]")) == "sizeMismatch")
        // 2⁶¹ elements fit in Int, 2⁶¹ × 4 bytes do not.
        #expect(try kind(singleEntry(shape: "[2305843009213693952]", offsets: "[0, 8]")) == "sizeMismatch")
        // The data buffer is shorter than the header claims (a truncated file).
        #expect(try kind(singleEntry(shape: "[3]", offsets: "[0, 12]"), f32Bytes([1, 2])) == "invalidOffsets")
    }

    @Test func refusesOverlapsHolesAndTrailingBytes() throws {
        func two(_ a: String, _ b: String) -> String {
            #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": \#(a)}, "#
                + #""b": {"dtype": "F32", "shape": [2], "data_offsets": \#(b)}}"#
        }
        let overlap = try readError(fileBytes(header: two("[0, 8]", "[4, 12]"), data: f32Bytes([1, 2, 3])))
        #expect(overlap.map(caseName) == "overlappingTensors")
        #expect(overlap.map { "\($0)".contains("'a'") && "\($0)".contains("'b'") } == true)
        #expect(try readError(fileBytes(header: two("[0, 8]", "[0, 8]"), data: f32Bytes([1, 2]))).map(caseName)
                == "overlappingTensors")
        #expect(try readError(fileBytes(header: two("[0, 8]", "[12, 20]"), data: f32Bytes([1, 2, 3, 4, 5]))).map(caseName)
                == "unusedBytes")
        #expect(try readError(fileBytes(header: singleEntry(), data: f32Bytes([1, 2, 3]))).map(caseName) == "unusedBytes")
        // Tensors listed out of offset order are fine; so is an empty tensor anywhere in range.
        #expect(try readError(fileBytes(header: two("[8, 16]", "[0, 8]"), data: f32Bytes([1, 2, 3, 4]))) == nil)
        let empty = #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "#
            + #""e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [4, 4]}}"#
        #expect(try readError(fileBytes(header: empty, data: f32Bytes([1, 2]))) == nil)
    }

    @Test func refusesIntegersFloat32CannotHold() throws {
        let header = singleEntry(name: "step", dtype: "I64", shape: "[1]", offsets: "[0, 8]")
        let value = withUnsafeBytes(of: Int64(16_777_217).littleEndian) { Array($0) }
        let error = try readError(fileBytes(header: header, data: value))
        #expect(error.map(caseName) == "notRepresentable")
        #expect(error.map { "\($0)".contains("16777217") && "\($0)".contains("'step'") } == true)
    }
}
