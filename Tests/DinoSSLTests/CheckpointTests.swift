import DinoSSL
import DinoTensor
import Foundation
import Testing

private func sampleState(step: Int) -> TrainState {
    TrainState(step: step, epoch: step / 10, batchInEpoch: step % 10, batchesPerEpoch: 10,
               generators: ["masks": RandomGenerator(seed: 5, offset: UInt64(step) * 3)],
               scheduleValues: ["lr": 1e-4], lastLoss: 2.5, reason: "test", config: .object(["epochs": .integer(3)]))
}

@Suite struct CheckpointTests {
    @Test func saveLoadRoundTripAndKeepLast() throws {
        let store = CheckpointStore(directory: temporaryDirectory("ckpt"), keep: 2)
        #expect(try store.loadLatest() == nil)
        let w = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        for step in [10, 25, 30] {
            try store.save(tensors: ["w": w * Double(step), "step.d": Tensor(doubles: [Double(step)], shape: [])], state: sampleState(step: step))
        }
        #expect(store.list().map(\.step) == [25, 30])
        let files = try FileManager.default.contentsOfDirectory(atPath: store.directory.path).sorted()
        #expect(files == ["checkpoint-000000025.json", "checkpoint-000000025.safetensors",
                          "checkpoint-000000030.json", "checkpoint-000000030.safetensors"])
        let c = try #require(try store.loadLatest())
        #expect(c.state.step == 30 && c.state.epoch == 3 && c.state.batchInEpoch == 0 && c.state.lastLoss == 2.5)
        #expect(c.state.generators["masks"]!.seed == 5 && c.state.generators["masks"]!.offset == 90)
        #expect(c.state.tensorFile == "checkpoint-000000030.safetensors" && c.state.config == .object(["epochs": .integer(3)]))
        #expect(c.tensors["w"]!.scalars == (w * 30).scalars && c.tensors["step.d"]!.dtype == .float64)
    }

    @Test func orphanTensorFilesFromAnInterruptedSaveAreIgnored() throws {
        let store = CheckpointStore(directory: temporaryDirectory("orphan"), keep: 3)
        try store.save(tensors: ["w": Tensor([1], shape: [1])], state: sampleState(step: 4))
        // A crash after the tensors and before the JSON of step 9.
        try SafeTensors.write(["w": Tensor([2], shape: [1])], to: store.directory.appendingPathComponent("checkpoint-000000009.safetensors"))
        #expect(try store.loadLatest()?.state.step == 4)
        try store.save(tensors: ["w": Tensor([3], shape: [1])], state: sampleState(step: 12))
        #expect(!FileManager.default.fileExists(atPath: store.directory.appendingPathComponent("checkpoint-000000009.safetensors").path))
    }

    @Test func malformedNewestCheckpointIsRefusedWithTheReason() throws {
        let store = CheckpointStore(directory: temporaryDirectory("bad"), keep: 5)
        try store.save(tensors: ["w": Tensor([1, 2], shape: [2])], state: sampleState(step: 1))
        let url = try store.save(tensors: ["w": Tensor([1, 2], shape: [2])], state: sampleState(step: 2))
        let tensors = store.directory.appendingPathComponent("checkpoint-000000002.safetensors")

        // Truncated tensor file.
        let data = try Data(contentsOf: tensors)
        try data.prefix(data.count - 3).write(to: tensors)
        #expect(throws: CheckpointError.malformed(file: url.path, reason: "tensor file has \(data.count - 3) bytes, the state says \(data.count)")) {
            try store.loadLatest()
        }
        // Same size, damaged header.
        var damaged = data
        damaged[10] = UInt8(ascii: "#")
        try damaged.write(to: tensors)
        do {
            _ = try store.loadLatest()
            Issue.record("a damaged tensor file was accepted")
        } catch let CheckpointError.malformed(file, reason) {
            #expect(file == url.path && !reason.isEmpty)
        }
        // Missing tensor file.
        try FileManager.default.removeItem(at: tensors)
        #expect(throws: CheckpointError.malformed(file: url.path, reason: "tensor file 'checkpoint-000000002.safetensors' is missing")) {
            try store.loadLatest()
        }
        // State JSON that does not decode.
        try Data("{\"step\": 2".utf8).write(to: url)
        do {
            _ = try store.loadLatest()
            Issue.record("a broken state JSON was accepted")
        } catch let e as CheckpointError {
            #expect(e.description.contains("state JSON does not decode") && e.description.contains("Move it away"))
        }
        // Moving it away resumes from the older one.
        try FileManager.default.removeItem(at: url)
        #expect(try store.loadLatest()?.state.step == 1)
    }
}
