import Foundation
import ZSMVideo

#if canImport(Glibc)
  import Glibc
#endif

/// Finding ffmpeg and ffprobe, which `zsm upscale` runs as subprocesses for every video file
/// that is not Y4M (Y4M is read and written natively).
public enum FFmpegTools {
  /// The Debian/Ubuntu package that has both programs.
  public static let package = "ffmpeg"

  /// The executable `tool` found on `searchPath` (a `$PATH` value), or nil.
  public static func find(_ tool: String, searchPath: String? = ProcessInfo.processInfo.environment["PATH"]) -> String?
  {
    for directory in (searchPath ?? "").split(separator: ":") where !directory.isEmpty {
      let candidate = "\(directory)/\(tool)"
      if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
  }

  /// `tool` on the PATH, or an error saying what needed it and which package installs it.
  public static func require(_ tool: String, for purpose: String) throws(PipelineError) -> String {
    guard let path = find(tool) else {
      throw PipelineError(
        "\(purpose) needs \(tool), which is not on the PATH: install the \(package) package "
          + "(Debian/Ubuntu: sudo apt-get install \(package))")
    }
    return path
  }

  /// A path as ffmpeg's file protocol names it, so that a name with a colon (`a:b.mp4`) or a
  /// leading dash is never read as a protocol or an option.
  static func fileURL(_ path: String) -> String { "file:" + path }
}

/// One ffmpeg (or ffprobe) subprocess: its stdin or stdout is a pipe this process holds, its
/// stderr goes to an unlinked temporary file (never a pipe nobody reads, which could stall it),
/// whose last lines make the error when it fails.
final class FFmpegProcess {
  let process = Process()
  /// What the process does, for messages: "ffmpeg decoding in.mp4".
  let role: String
  private let stderrDescriptor: Int32
  private var exitStatus: Int32?

  /// Starts `executable` with `arguments`; `stdin` / `stdout` are descriptors the child gets
  /// (closed here once it runs; nil: /dev/null).
  init(executable: String, arguments: [String], role: String, stdin: Int32?, stdout: Int32?) throws(PipelineError) {
    self.role = role
    var template = Array((NSTemporaryDirectory() + "/zsm-ffmpeg-XXXXXX").utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else {
      throw PipelineError("\(role): cannot create a temporary file for its messages: \(Errno.current)")
    }
    template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    stderrDescriptor = fd
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardInput = stdin.map { FileHandle(fileDescriptor: $0, closeOnDealloc: false) } ?? FileHandle.nullDevice
    process.standardOutput =
      stdout.map { FileHandle(fileDescriptor: $0, closeOnDealloc: false) } ?? FileHandle.nullDevice
    process.standardError = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
    defer {
      if let stdin { Glibc.close(stdin) }
      if let stdout { Glibc.close(stdout) }
    }
    do { try process.run() } catch {
      Glibc.close(fd)
      throw PipelineError("cannot start \(executable): \(error.localizedDescription)")
    }
  }

  deinit {
    if exitStatus == nil && process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    Glibc.close(stderrDescriptor)
  }

  /// Waits for the process to end; its exit status (128 + the signal that ended it).
  @discardableResult
  func wait() -> Int32 {
    if let exitStatus { return exitStatus }
    process.waitUntilExit()
    let status =
      process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    exitStatus = status
    return status
  }

  /// Ends the process (SIGTERM, then SIGKILL if it is still there after a second) and waits.
  func stop() {
    guard exitStatus == nil else { return }
    if process.isRunning {
      kill(process.processIdentifier, SIGTERM)
      for _ in 0..<100 where process.isRunning { usleep(10_000) }
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    wait()
  }

  /// The last `lines` lines the process wrote to stderr (at most 4 KiB of them).
  func stderrTail(lines: Int = 12) -> String {
    let size = lseek(stderrDescriptor, 0, SEEK_END)
    guard size > 0 else { return "" }
    let count = Int(min(size, 4096))
    var bytes = [UInt8](repeating: 0, count: count)
    let n = bytes.withUnsafeMutableBytes { pread(stderrDescriptor, $0.baseAddress!, count, size - off_t(count)) }
    guard n > 0 else { return "" }
    let text = String(decoding: bytes[..<n], as: UTF8.self)
    return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
  }

  /// The error for a failed run: the role, the status and what ffmpeg said.
  func failure(_ status: Int32) -> PipelineError {
    let tail = stderrTail()
    let how = status > 128 ? "was ended by signal \(status - 128)" : "failed (exit status \(status))"
    return PipelineError("\(role) \(how)" + (tail.isEmpty ? ", saying nothing" : ":\n" + tail))
  }
}

/// A pipe whose two ends are closed on exec, so no other child inherits them (a decoder whose
/// reader end leaked into the encoder would never see the pipe close).
func closeOnExecPipe() throws(PipelineError) -> (read: Int32, write: Int32) {
  var fds: [Int32] = [-1, -1]
  guard pipe(&fds) == 0 else { throw PipelineError("cannot create a pipe: \(Errno.current)") }
  for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
  return (fds[0], fds[1])
}
