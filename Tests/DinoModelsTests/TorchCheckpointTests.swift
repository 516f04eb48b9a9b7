import DinoModels
import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

func pthFixture(_ name: String) throws -> URL {
    let dir = try #require(Bundle.module.url(forResource: "pth", withExtension: nil, subdirectory: "Fixtures"))
    return dir.appendingPathComponent(name)
}

@Suite struct TorchCheckpointTests {
    /// Every storage type, strided and offset views of one storage, a 0-d tensor.
    @Test func readsEveryStorageTypeAndView() throws {
        let checkpoint = try TorchCheckpoint(url: try pthFixture("tensors.pth"))
        let tensors = try checkpoint.stateDict()
        let expected = try SafeTensors.read(from: try pthFixture("expected.safetensors")).tensors
        #expect(Set(tensors.keys) == Set(expected.keys))
        for (name, e) in expected {
            let t = try #require(tensors[name])
            #expect(t.shape == e.shape, "\(name)")
            #expect(t.scalars == e.scalars, "\(name)")
        }
        #expect(tensors["transposed"]?.shape == [4, 3])
        #expect(tensors["long"]?.scalars == [1, -2, 3_000_000_000])
        #expect(tensors["bool"]?.scalars == [1, 0, 1])
    }

    @Test func refusesUnknownClassesByDefault() throws {
        #expect {
            _ = try TorchCheckpoint(url: try pthFixture("training.pth"))
        } throws: { error in
            "\(error)".contains("argparse.Namespace")
        }
    }

    /// The payload pickles as a call to os.system; it is refused by name and never run.
    @Test func refusesCodeEvenWhenPlaceholdersAreAllowed() throws {
        #expect {
            _ = try TorchCheckpoint(url: try pthFixture("malicious.pth"))
        } throws: { error in
            "\(error)".contains("posix.system") || "\(error)".contains("os.system")
        }
        // With placeholders the call is replaced by its name; the tensors still load.
        let c = try TorchCheckpoint(url: try pthFixture("malicious.pth"), allowUnknownObjects: true)
        #expect(try c.stateDict()["weights"]?.scalars == [1, 1])
    }

    @Test func trainingCheckpointGivesTheTeacherBackbone() throws {
        let c = try TorchCheckpoint(url: try pthFixture("training.pth"), allowUnknownObjects: true)
        #expect(Set(c.topLevelKeys) == ["teacher", "student", "epoch", "args", "optimizer"])
        let (backbone, dropped) = CheckpointKeys.stripWrapperPrefixes(try c.stateDict())
        #expect(Set(backbone.keys) == ["cls_token", "norm.weight"])
        #expect(dropped == ["head.last_layer.weight"])
        let student = CheckpointKeys.stripWrapperPrefixes(try c.stateDict(key: "student")).tensors
        #expect(student["cls_token"]?.scalars == [0, 0, 0, 0])
        #expect(throws: CheckpointLayoutError.self) { try c.stateDict(key: "ema") }
    }

    @Test func dinov2TrainingCheckpointSelectsPrefixedTeacher() throws {
        let c = try TorchCheckpoint(url: try pthFixture("dinov2_training.pth"))
        let (backbone, dropped) = CheckpointKeys.stripWrapperPrefixes(try c.stateDict())
        #expect(Array(backbone.keys) == ["cls_token"])
        #expect(dropped == ["dino_head.w"])
        let student = CheckpointKeys.stripWrapperPrefixes(try c.stateDict(key: "student")).tensors
        #expect(student["cls_token"]?.scalars == [0, 0, 0, 0])
    }

    @Test func notAZipArchiveIsAClearError() throws {
        #expect {
            _ = try TorchCheckpoint(url: try pthFixture("expected.safetensors"))
        } throws: { error in
            "\(error)".contains("not a ZIP archive")
        }
    }
}

@Suite struct ConvertTests {
    /// An official-layout `.pth` saved by torch.save converts to safetensors that load into
    /// our model and reproduce the reference outputs.
    @Test func convertedCheckpointReproducesReference() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("dino-convert-\(UInt32.random(in: 0...UInt32.max)).safetensors")
        defer { try? FileManager.default.removeItem(at: out) }
        let report = try TorchCheckpointConverter.convert(input: try pthFixture("dino_official.pth"), output: out)
        #expect(report.dropped.isEmpty)
        let c = try ParityCase("dino_official")
        #expect(report.written == VisionTransformer(c.config).namedTensors().count)
        let model = VisionTransformer(c.config)
        try model.loadWeights(from: out)
        model.eval()
        let f = withNoGrad { model.forwardFeatures(c.io["native"]!) }
        #expect(close(f.patchTokens, c.io["native.patch"]) == nil)
    }
}

@Suite struct ZipArchiveTests {
    /// A one-entry archive written with every ZIP64 record (sizes and offsets in the
    /// extended fields, ZIP64 end record and locator), as checkpoints above 4 GiB have.
    @Test func readsZip64Records() throws {
        func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8((v >> (8 * UInt64($0))) & 0xFF) } }
        let name = Array("archive/data/0".utf8), payload: [UInt8] = [1, 2, 3, 4, 5]
        let size = UInt64(payload.count)
        var bytes: [UInt8] = le(0x0403_4B50, 4) + le(45, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4)
            + le(0xFFFF_FFFF, 4) + le(0xFFFF_FFFF, 4) + le(UInt64(name.count), 2) + le(20, 2)
        bytes += name + le(1, 2) + le(16, 2) + le(size, 8) + le(size, 8) + payload
        let centralOffset = UInt64(bytes.count)
        var central: [UInt8] = le(0x0201_4B50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4)
            + le(0xFFFF_FFFF, 4) + le(0xFFFF_FFFF, 4) + le(UInt64(name.count), 2) + le(28, 2) + le(0, 2)
            + le(0, 2) + le(0, 2) + le(0, 4) + le(0xFFFF_FFFF, 4)
        central += name + le(1, 2) + le(24, 2) + le(size, 8) + le(size, 8) + le(0, 8)
        bytes += central
        let recordOffset = UInt64(bytes.count)
        bytes += le(0x0606_4B50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4)
            + le(1, 8) + le(1, 8) + le(UInt64(central.count), 8) + le(centralOffset, 8)
        bytes += le(0x0706_4B50, 4) + le(0, 4) + le(recordOffset, 8) + le(1, 4)
        bytes += le(0x0605_4B50, 4) + le(0, 2) + le(0, 2) + le(0xFFFF, 2) + le(0xFFFF, 2)
            + le(0xFFFF_FFFF, 4) + le(0xFFFF_FFFF, 4) + le(0, 2)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zip64-\(UInt32.random(in: 0...UInt32.max)).zip")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(bytes).write(to: url)
        let archive = try ZipArchive(url: url)
        #expect(archive.names == ["archive/data/0"])
        #expect(archive.entries["archive/data/0"]?.uncompressedSize == 5)
        #expect([UInt8](try archive.read("archive/data/0")) == payload)
        #expect([UInt8](try archive.read("archive/data/0", offset: 3)) == [4, 5])
        #expect(throws: ZipError.self) { try archive.read("archive/data/0", offset: 2, length: 4) }
    }
}
