// `dino launch`: `dino train` on several processes through Open MPI's mpirun, restarted from the
// last checkpoint after a failure (torchrun's `--max-restarts`).

import ArgumentParser
import DinoSSL
import Foundation

struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Run `dino train` on N processes with mpirun; restart from the last checkpoint after a failure.",
        discussion: """
        dino launch -np 4 --hostfile hosts --max-restarts 2 -- train --data DIR --out RUN …
        runs `mpirun -np 4 --hostfile hosts DINO train …` (DINO: this executable; it must be at \
        the same path on every host, and RUN on a file system every host sees). When mpirun \
        fails (a rank died, or a collective timed out), it is run again with --resume, at most \
        --max-restarts times; the run continues from its newest checkpoint.
        """
    )

    @Option(name: .customLong("np", withSingleDash: true), help: "Number of processes (ranks).")
    var processes: Int

    @Option(help: "mpirun's --hostfile: one host per line, with `slots=K`.")
    var hostfile: String?

    @Option(help: "Restarts after a failure.")
    var maxRestarts: Int = 0

    @Option(help: "More mpirun arguments, one string (e.g. --mpirun-options=\"--oversubscribe --mca btl tcp,self\").")
    var mpirunOptions: String = ""

    @Option(help: "The mpirun executable.")
    var mpirun: String = "mpirun"

    @Argument(parsing: .captureForPassthrough, help: "-- train … : the dino command every rank runs.")
    var command: [String] = []

    func validate() throws {
        if processes < 1 { throw ValidationError("-np must be at least 1") }
        if maxRestarts < 0 { throw ValidationError("--max-restarts must be at least 0") }
        if command.first == "--" { return }
        if command.first != "train" && command.dropFirst().first != "train" {
            throw ValidationError("the command after -- must be `train …` (got: \(command.joined(separator: " ")))")
        }
    }

    func run() throws {
        var trainArguments = command.first == "--" ? Array(command.dropFirst()) : command
        guard trainArguments.first == "train" else { throw ValidationError("the command after -- must be `train …`") }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let runDirectory = Self.value(of: "--out", in: trainArguments)
        for attempt in 0...maxRestarts {
            if attempt > 0 {
                // Continue from the newest checkpoint when there is one, else start again.
                if let out = runDirectory, !trainArguments.contains("--resume"),
                   !CheckpointStore(directory: URL(fileURLWithPath: out).appendingPathComponent("checkpoints")).list().isEmpty {
                    trainArguments.append("--resume")
                }
                FileHandle.standardError.write(Data("dino launch: restart \(attempt) of \(maxRestarts), from the newest checkpoint\n".utf8))
            }
            var arguments = ["-np", String(processes)]
            if let hostfile { arguments += ["--hostfile", hostfile] }
            arguments += mpirunOptions.split(separator: " ").map(String.init)
            arguments += [executable] + trainArguments
            let status = try Self.runProcess(mpirun, arguments)
            if status == 0 { return }
            FileHandle.standardError.write(Data("dino launch: mpirun exited with status \(status)\n".utf8))
        }
        FileHandle.standardError.write(Data("dino launch: giving up after \(maxRestarts) restart(s)\n".utf8))
        throw ExitCode(1)
    }

    /// The value of `--name X` or `--name=X` in `arguments`.
    static func value(of name: String, in arguments: [String]) -> String? {
        for (i, a) in arguments.enumerated() {
            if a == name, i + 1 < arguments.count { return arguments[i + 1] }
            if a.hasPrefix(name + "=") { return String(a.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// Runs `program` (searched in PATH) and returns its exit status.
    static func runProcess(_ program: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [program] + arguments
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
