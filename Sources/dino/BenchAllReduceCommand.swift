// `dino bench allreduce`: the all-reduce bandwidth of the gradient buckets' sizes, under mpirun.

import ArgumentParser
import DinoDistributed
import Foundation

struct BenchAllReduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Time and check in-place all-reduces of bucket sizes across the ranks of mpirun.",
        discussion: """
            mpirun -np 2 dino bench allreduce --sizes 1048576,26214400
            Each size: one untimed all-reduce, then --repeats timed ones (median); every result is \
            checked. Prints bytes, ms, algorithm and bus bandwidth (nccl-tests' algbw, busbw). \
            scripts/bench_allreduce.sh runs it on shared memory and on TCP loopback.
            """
    )

    @Option(help: "Buffer sizes in bytes, comma-separated (DDP's buckets: 1 MiB first, 25 MiB after).")
    var sizes: String = "1048576,26214400"

    @Option(help: "Timed all-reduces per size.")
    var repeats: Int = 5

    @Flag(help: "Only check the collectives (all-reduce, broadcast, barrier) and print `ok`.")
    var checkOnly = false

    @Option(help: "Seconds a collective may take before the job stops.")
    var collectiveTimeout: Double = 60

    @Option(help: ArgumentHelp("Tests: this rank sleeps 120 s before its first collective (the others' watchdog must stop the job).", visibility: .private))
    var testStallRank: Int?

    func run() throws {
        let communicator = try Communicators.fromEnvironment(timeout: collectiveTimeout)
        defer { communicator.finish() }
        if testStallRank == communicator.rank { Thread.sleep(forTimeInterval: 120) }
        try AllReduceBenchmark.check(communicator, count: 1000)
        if checkOnly {
            print("rank \(communicator.rank) of \(communicator.size): ok")
            return
        }
        let bytes = sizes.split(separator: ",").compactMap { Int($0) }
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 > 0 }) else { throw ValidationError("--sizes needs positive byte counts, got '\(sizes)'") }
        let results = try AllReduceBenchmark.run(communicator, sizes: bytes, repeats: max(1, repeats))
        guard communicator.isMain else { return }
        print("ranks  bytes        ms        algbw GB/s  busbw GB/s")
        for r in results {
            print(String(format: "%5d  %-11d  %8.3f  %10.3f  %10.3f", r.ranks, r.bytes, r.seconds * 1e3,
                         r.algorithmBandwidth / 1e9, r.busBandwidth / 1e9))
        }
    }
}
