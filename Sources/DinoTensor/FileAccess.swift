// Plain POSIX file access for checkpoints: positional reads that never run past the end of
// the file, and atomic replacement (temporary file in the same folder, fsync, rename).
//
// Errors are `SafeTensorsError.io` naming the file and the system's reason (strerror).

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `write(2)`, reachable from inside methods named `write`.
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, bytes, count)
    #elseif canImport(Musl)
    return Musl.write(fd, bytes, count)
    #else
    return Darwin.write(fd, bytes, count)
    #endif
}

/// The text of the current `errno`.
private func systemReason(_ what: String) -> String {
    "\(what): \(String(cString: strerror(errno)))"
}

/// A file opened for reading, with its size fixed at open.
final class ReadOnlyFile {
    let path: String
    let size: Int
    private let fd: Int32

    init(_ url: URL) throws {
        path = url.path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SafeTensorsError.io(file: path, reason: systemReason("cannot open")) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = SafeTensorsError.io(file: path, reason: systemReason("cannot stat"))
            close(fd)
            throw error
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw SafeTensorsError.io(file: path, reason: "not a regular file")
        }
        size = Int(info.st_size)
    }

    deinit { close(fd) }

    /// Reads exactly `count` bytes at byte `position`; a short file (truncated while being
    /// read) is an error, never a partial result.
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at position: Int) throws {
        precondition(position >= 0 && count >= 0 && position <= size && count <= size - position,
                     "ReadOnlyFile: read of \(count) bytes at \(position) outside the \(size)-byte file \(path)")
        var done = 0
        while done < count {
            // Linux transfers at most 0x7ffff000 bytes per call; ask for at most 1 GiB.
            let n = pread(fd, buffer + done, min(count - done, 1 << 30), off_t(position + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SafeTensorsError.io(file: path, reason: systemReason("read failed at byte \(position + done)"))
            }
            if n == 0 {
                throw SafeTensorsError.io(file: path, reason: "unexpected end of file at byte \(position + done) (was it truncated while being read?)")
            }
            done += n
        }
    }
}

/// A file written under a temporary name and renamed into place by `commit()`.
final class AtomicFile {
    let path: String
    private let temporaryPath: String
    private var fd: Int32
    private var finished = false  // renamed into place, or deleted

    /// Creates `.<name>.tmp-<random>` next to `url`.
    init(_ url: URL) throws {
        path = url.path
        let folder = url.deletingLastPathComponent().path
        temporaryPath = (folder as NSString).appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(UInt64.random(in: 0...UInt64.max))")
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SafeTensorsError.io(file: path, reason: systemReason("cannot create \(temporaryPath)"))
        }
    }

    deinit { abandon() }

    /// Appends `count` bytes.
    func write(_ bytes: UnsafeRawPointer, count: Int) throws {
        var done = 0
        while done < count {
            let n = posixWrite(fd, bytes + done, min(count - done, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw SafeTensorsError.io(file: path, reason: systemReason("write failed"))
            }
            done += n
        }
    }

    /// Flushes to disk and renames the temporary file over the destination.
    func commit() throws {
        guard fsync(fd) == 0 else { throw SafeTensorsError.io(file: path, reason: systemReason("fsync failed")) }
        guard close(fd) == 0 else {
            fd = -1
            throw SafeTensorsError.io(file: path, reason: systemReason("close failed"))
        }
        fd = -1
        guard rename(temporaryPath, path) == 0 else {
            let error = SafeTensorsError.io(file: path, reason: systemReason("cannot rename \(temporaryPath) into place"))
            unlink(temporaryPath)
            throw error
        }
        finished = true
        // Make the rename itself durable (best effort: some file systems refuse fsync on folders).
        let parent = (path as NSString).deletingLastPathComponent
        let folder = open(parent.isEmpty ? "." : parent, O_RDONLY | O_CLOEXEC)
        if folder >= 0 {
            _ = fsync(folder)
            close(folder)
        }
    }

    /// Closes and deletes the temporary file, unless it was renamed into place.
    func abandon() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        if !finished {
            unlink(temporaryPath)
            finished = true
        }
    }
}
