import DinoSSL
import Foundation
import Testing

@Suite struct TensorBoardTests {
    /// RFC 3720 B.4 test vectors and the common "123456789" check value.
    @Test func crc32cKnownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func eventProtobufBytesByHand() throws {
        // wall_time 1.5, step 300, one value {tag "a", simple_value 2}.
        let e = TensorBoardEvent(wallTime: 1.5, step: 300, scalars: [("a", 2)])
        let expected: [UInt8] = [0x09, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F,      // 1.5 as fixed64
                                 0x10, 0xAC, 0x02,                          // 300 as varint
                                 0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 0x61,  // summary { value { tag "a"
                                 0x15, 0, 0, 0, 0x40]                       //   simple_value 2.0 } }
        #expect(e.serialized() == expected)
        #expect(try TensorBoardEvent(protobuf: expected) == e)
    }

    @Test func writtenFileReadsBackWithValidCRCs() throws {
        let dir = temporaryDirectory("tb")
        var t = 1_700_000_000.25
        let w = try TensorBoardWriter(directory: dir, clock: { t += 1; return t })
        try w.add(scalars: [("loss", 3.25), ("lr", 1e-4)], step: 10)
        try w.add(scalars: [("loss", 2.5)], step: 20)
        #expect(w.url.lastPathComponent.hasPrefix("events.out.tfevents.1700000001."))
        let events = try TensorBoardWriter.read(w.url)
        #expect(events.count == 3)
        #expect(events[0].fileVersion == "brain.Event:2" && events[0].step == 0 && events[0].wallTime == 1_700_000_001.25)
        #expect(events[1].step == 10 && events[1].scalars.map(\.tag) == ["loss", "lr"] && events[1].scalars[1].value == Float(1e-4))
        #expect(events[2].step == 20 && events[2].scalars[0].value == 2.5 && events[2].wallTime == 1_700_000_003.25)

        // Framing: length, masked CRC of the length, data, masked CRC of the data.
        let bytes = [UInt8](try Data(contentsOf: w.url))
        let length = Int(bytes[0]) | Int(bytes[1]) << 8
        #expect(Array(bytes[8..<12]) == le32(CRC32C.masked(bytes[0..<8])))
        #expect(Array(bytes[(12 + length)..<(16 + length)]) == le32(CRC32C.masked(bytes[12..<(12 + length)])))

        var corrupt = bytes
        corrupt[14] ^= 1
        try Data(corrupt).write(to: w.url)
        #expect(throws: TensorBoardFormatError.self) { try TensorBoardWriter.read(w.url) }
    }

    private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
}

@Suite struct MetricsTests {
    @Test func jsonLinesAreFlushedAndTrimmedOnResume() throws {
        let dir = temporaryDirectory("metrics")
        do {
            let m = try MetricsLogger(runDirectory: dir, tensorBoard: false)
            for s in 0..<5 { try m.log(step: s, epoch: 0, values: ["loss": 1 / Double(s + 1), "lr": 1e-3, "bad": .nan]) }
            // Readable before the logger is closed: every line is written at once.
            #expect(try MetricsLogger.read(m.url).count == 5)
        }
        let url = dir.appendingPathComponent("metrics.jsonl")
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text.hasPrefix(#"{"bad":null,"epoch":0,"loss":1.0,"lr":0.001,"step":0}"#))
        // A crash mid-line, then a resume at step 3.
        try (text + #"{"step":5,"lo"#).write(to: url, atomically: true, encoding: .utf8)
        let resumed = try MetricsLogger(runDirectory: dir, resumingAt: 3, tensorBoard: true)
        try resumed.log(step: 3, epoch: 0, values: ["loss": 0.2])
        let lines = try MetricsLogger.read(url)
        #expect(lines.map { $0["step"]! } == [0, 1, 2, 3] && lines[3]["loss"] == 0.2 && lines[0]["bad"] == nil)
        #expect(try TensorBoardWriter.read(resumed.tensorBoard!.url).count == 2)
    }
}

@Suite struct ProgressTests {
    @Test func terminalRedrawsAtMostTenTimesASecond() {
        var out: [String] = []
        var now = 100.0
        let bar = ProgressBar(total: 2740, label: "epoch 3/100", itemsPerStep: 16, width: 10, isTerminal: true,
                              output: { out.append($0) }, clock: { now })
        for step in 1...20 {
            now += 0.02
            bar.update(completed: step, metrics: [("loss", 3.2104), ("lr", 1.2e-4)])
        }
        #expect(out.count == 4)                                           // 0.4 s at 10 Hz
        #expect(out.allSatisfy { $0.hasPrefix("\r") && $0.hasSuffix("\u{1B}[K") })
        now = 100 + 0.04 * 1233
        bar.update(completed: 1234, metrics: [("loss", 3.21), ("lr", 1.2e-4)])
        // 1234 steps in 49.32 s: 25.0 it/s, 400 img/s; 1506 left: 60 s.
        #expect(out.last == "\repoch 3/100 [===>      ] 45% 1234/2740 loss 3.21 lr 1.2e-4 400 img/s ETA 01:00\u{1B}[K")
        bar.finish(metrics: [("loss", 3.21)])
        #expect(out.suffix(2) == ["\n", "epoch 3/100: 1234 steps in 00:49 (25 it/s, 400 img/s) loss 3.21\n"])
    }

    @Test func plainLinesWhenNotATerminal() {
        var out: [String] = []
        var now = 0.0
        let bar = ProgressBar(total: 100, itemsPerStep: nil, width: 4, isTerminal: false, plainInterval: 30,
                              output: { out.append($0) }, clock: { now })
        for step in 1...100 {
            now += 1
            bar.update(completed: step)
        }
        // At the first step, then every 30 s, and at the last.
        #expect(out.count == 5 && out.allSatisfy { $0.hasSuffix("\n") && !$0.contains("\r") })
        #expect(out.last == "[====] 100% 100/100 ETA 00:00\n")
        #expect(out[0] == "[    ] 1% 1/100 ETA 01:39\n")
    }

    @Test func numbersAndDurations() {
        #expect(ProgressBar.number(3.2104) == "3.21" && ProgressBar.number(58.33) == "58.3")
        #expect(ProgressBar.number(1.2e-4) == "1.2e-4" && ProgressBar.number(0.0123) == "0.0123")
        #expect(ProgressBar.number(12345) == "12345" && ProgressBar.number(.nan) == "nan" && ProgressBar.number(0) == "0")
        #expect(ProgressBar.number(2.5e9) == "2.5e9")
        #expect(ProgressBar.duration(133) == "02:13" && ProgressBar.duration(3723) == "1:02:03")
    }
}

@Suite(.serialized) struct StopSignalTests {
    @Test func signalRaisesTheFlag() async throws {
        let stop = StopSignal(signals: [SIGUSR2])
        #expect(!stop.isRequested)
        kill(getpid(), SIGUSR2)
        for _ in 0..<200 where !stop.isRequested { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(stop.stopReason == "received SIGUSR2")
        stop.cancel()
    }

    @Test func requestFromCodeAndBudget() {
        let stop = StopSignal(signals: [])
        stop.request("enough")
        stop.request("later reason is ignored")
        #expect(stop.stopReason == "enough")
        var now = 0.0
        let budget = TimeBudget(minutes: 2, clock: { now })
        now = 119
        #expect(!budget.isExhausted)
        now = 120
        #expect(budget.isExhausted && budget.elapsed == 120)
        #expect(!TimeBudget(minutes: nil).isExhausted)
    }
}
