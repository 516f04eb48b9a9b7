// Freed tensor buffers of 32 MiB and more are kept and handed to the next tensor of the same
// size (allocator.c), instead of being mapped afresh and page-faulted every step.

@testable import DinoTensor
import Testing

@Suite struct BufferCacheTests {
    /// An unusual size (other suites running meanwhile will not ask for it): 33 MiB + 12 bytes.
    static let count = (33 << 20) / 4 + 3

    @Test func aFreedLargeBufferIsReusedZeroedWhenAsked() {
        var first: UnsafeMutableRawPointer? = nil
        do {
            let s = TensorStorage(dtype: .float32, count: Self.count, zeroed: false)
            let p = s.pointer(Float.self)
            for i in stride(from: 0, to: Self.count, by: 4096) { p[i] = 7 }
            p[Self.count - 1] = 7
            first = s.raw
        }
        #expect(TensorStorage.cachedBytes >= 34 << 20, "the freed block is kept (33 MiB rounded up to 34)")
        let again = TensorStorage(dtype: .float32, count: Self.count, zeroed: true)
        #expect(again.raw == first, "the same size takes the kept block")
        let q = again.pointer(Float.self)
        #expect(q[0] == 0 && q[4096] == 0 && q[Self.count - 1] == 0, "zeroed as asked, though reused")
        #expect(Int(bitPattern: again.raw) % 64 == 0)
    }

    @Test func anotherSizeOrASmallBufferDoesNotTakeIt() {
        var kept: UnsafeMutableRawPointer? = nil
        do { kept = TensorStorage(dtype: .float32, count: Self.count + (5 << 20) / 4, zeroed: false).raw }   // 38 MiB
        let other = TensorStorage(dtype: .float32, count: Self.count + (9 << 20) / 4, zeroed: false)         // 42 MiB
        #expect(other.raw != kept)
        let small = TensorStorage(dtype: .float32, count: 1000)
        #expect(small.raw != kept)
        let same = TensorStorage(dtype: .float32, count: Self.count + (5 << 20) / 4, zeroed: false)
        #expect(same.raw == kept)
    }
}
