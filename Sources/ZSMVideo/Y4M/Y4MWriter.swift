import CV4L2

#if canImport(Glibc)
  import Glibc
#endif

/// Writes a Y4M stream to a file or a pipe (`-` = standard output).
///
/// A failed write (full disk, closed pipe) stops the writer cleanly: it throws a `Y4MError`
/// naming the cause and the number of whole frames written, later calls throw the same error,
/// and on a regular file the partial frame is cut off again (`ftruncate`), so what is in the
/// output is always a valid stream of whole frames. SIGPIPE is ignored, so a closed pipe is
/// an EPIPE error rather than the death of the process.
/// A FRAME line without parameters.
private let frameLine = Array("FRAME\n".utf8)

public final class Y4MWriter {
  public let path: String
  public let header: Y4MHeader
  public private(set) var framesWritten = 0
  public private(set) var failure: Y4MError?
  let sys: Sys
  let fd: Int32
  let ownsDescriptor: Bool
  var committedOffset: Int64?
  var closed = false

  /// How a path is written.
  public enum Placement: Sendable, Equatable {
    /// A regular file (or a new one) is written to a temporary name in its directory and
    /// renamed over `path` by `close()`; `discard()` (or a writer dropped without `close()`)
    /// removes it, so a failed or interrupted run leaves the previous file untouched and no
    /// file that looks finished. A device, a FIFO or `-` is written in place.
    case replace
    /// The daemon's sink: a regular file is written in place and never truncated. An existing
    /// file whose stream header is this stream's gets the new frames appended; one with another
    /// header is first moved aside to `path.1` (`.2`, ...: the first free name).
    case append
  }

  /// Opens `path` (`-` writes to standard output) as `placement` says. With `writesHeader`
  /// false only FRAME records are written (a continuation of another stream, e.g. a later part
  /// of a clip cut into frame ranges: `cat` of the parts is one stream). Opening a FIFO waits
  /// for its reader; `stopWaiting` is asked every 100 ms meanwhile, and ends the wait (an
  /// error) when it says so.
  public convenience init(
    path: String, header: Y4MHeader, sys: Sys = .live, writesHeader: Bool = true, placement: Placement = .replace,
    stopWaiting: (() -> Bool)? = nil
  ) throws(Y4MError) {
    if path == "-" {
      try self.init(
        descriptor: 1, path: "<stdout>", header: header, sys: sys, ownsDescriptor: false, writesHeader: writesHeader)
      return
    }
    if path.utf8.contains(0) { throw .open(path: path, errno: Errno(EINVAL)) }
    var info = stat()
    let exists = stat(path, &info) == 0
    let kind = exists ? info.st_mode & S_IFMT : S_IFREG
    if kind == S_IFDIR { throw .open(path: path, errno: Errno(EISDIR)) }
    guard kind == S_IFREG else {
      // A device, a FIFO or a socket: in place, never truncated or renamed over.
      let fd = try Y4MWriter.openInPlace(path, sys: sys, fifo: kind == S_IFIFO, stopWaiting: stopWaiting)
      try self.init(
        descriptor: fd, path: path, header: header, sys: sys, ownsDescriptor: true, writesHeader: writesHeader)
      return
    }
    switch placement {
    case .replace:
      let temporary = Y4MWriter.temporaryName(for: path)
      let fd: Int32
      do {
        fd = try sys.open(
          temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: exists ? UInt32(info.st_mode & 0o777) : 0o644)
      } catch { throw .open(path: path, errno: error) }
      do {
        try self.init(
          descriptor: fd, path: path, header: header, sys: sys, ownsDescriptor: true, writesHeader: writesHeader)
      } catch {
        try? sys.close(fd)
        unlink(temporary)
        throw error
      }
      self.temporary = temporary
    case .append:
      var writeHeader = writesHeader
      if exists && info.st_size > 0 {
        if Y4MWriter.firstLine(of: path) == Array(header.line.utf8) {
          writeHeader = false
        } else {
          var n = 1
          while access("\(path).\(n)", F_OK) == 0 { n += 1 }
          if rename(path, "\(path).\(n)") != 0 { throw .open(path: path, errno: .current) }
        }
      }
      let fd: Int32
      do { fd = try sys.open(path, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644) } catch {
        throw .open(path: path, errno: error)
      }
      try self.init(
        descriptor: fd, path: path, header: header, sys: sys, ownsDescriptor: true, writesHeader: writeHeader)
    }
  }

  /// `dir/.name.zsm-<pid>-<n><suffix>`, a free name beside `path` (so the rename stays within
  /// a file system). An output another program writes keeps its extension in `suffix`
  /// (`.tmp.mp4`), since ffmpeg chooses the container by it.
  public static func temporaryName(for path: String, suffix: String = ".tmp") -> String {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[...$0]) } ?? ""
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    var n = 0
    while true {
      let candidate = "\(directory).\(name).zsm-\(getpid())-\(n)\(suffix)"
      if access(candidate, F_OK) != 0 { return candidate }
      n += 1
    }
  }

  /// The first line of a file, with its newline (at most 4 KiB); nil if unreadable.
  static func firstLine(of path: String) -> [UInt8]? {
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { Glibc.close(fd) }
    var bytes = [UInt8](repeating: 0, count: 4097)
    let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
    guard n > 0, let end = bytes[..<n].firstIndex(of: 0x0A) else { return nil }
    return Array(bytes[...end])
  }

  /// Opens a device or FIFO for writing without truncating it. A FIFO without a reader is
  /// opened non-blocking and retried every 100 ms (asking `stopWaiting`), so the wait can end.
  static func openInPlace(_ path: String, sys: Sys, fifo: Bool, stopWaiting: (() -> Bool)?) throws(Y4MError)
    -> Int32
  {
    guard fifo else {
      do { return try sys.open(path, flags: O_WRONLY) } catch { throw .open(path: path, errno: error) }
    }
    while true {
      do {
        let fd = try sys.open(path, flags: O_WRONLY | O_NONBLOCK)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
      } catch {
        guard error == Errno(ENXIO) else { throw .open(path: path, errno: error) }
      }
      if stopWaiting?() == true { throw .open(path: path, errno: Errno(EINTR)) }
      usleep(100_000)
    }
  }

  /// The temporary file renamed over `path` by `close()` (`.replace` of a regular file).
  public private(set) var temporary: String?

  /// Writes the stream header to an open descriptor.
  public init(
    descriptor: Int32, path: String, header: Y4MHeader, sys: Sys = .live, ownsDescriptor: Bool,
    writesHeader: Bool = true
  ) throws(Y4MError) {
    zsm_ignore_sigpipe()
    self.sys = sys
    self.fd = descriptor
    self.path = path
    self.header = header
    self.ownsDescriptor = ownsDescriptor
    committedOffset = sys.backend.currentOffset(descriptor)
    if writesHeader { try putBytes(Array(header.line.utf8), commit: true) }
  }

  /// A writer dropped without `close()` did not finish: its temporary file is removed.
  deinit {
    if temporary != nil { discard() } else { try? close() }
  }

  /// Appends one frame (exactly `header.frameByteCount` bytes) with optional FRAME parameters.
  public func writeFrame(_ frame: UnsafeRawBufferPointer, parameters: [String] = []) throws(Y4MError) {
    if let failure { throw failure }
    guard frame.count == header.frameByteCount else {
      throw .wrongFrameSize(path: path, got: frame.count, expected: header.frameByteCount)
    }
    if parameters.isEmpty {
      try putBytes(frameLine, commit: false)  // the usual case, without allocating
    } else {
      try putBytes(Array(("FRAME" + parameters.map { " " + $0 }.joined() + "\n").utf8), commit: false)
    }
    try put(frame)
    framesWritten += 1
  }

  func putBytes(_ bytes: [UInt8], commit: Bool) throws(Y4MError) {
    var failed: Y4MError?
    bytes.withUnsafeBytes { b in
      do throws(Y4MError) { try put(b, commit: commit) } catch { failed = error }
    }
    if let failed { throw failed }
  }

  /// Writes `bytes`; on failure rolls a regular file back to the last whole frame.
  func put(_ bytes: UnsafeRawBufferPointer, commit: Bool = true) throws(Y4MError) {
    do {
      try sys.writeAll(fd, bytes)
      if commit, let o = committedOffset { committedOffset = sys.backend.currentOffset(fd) ?? o }
    } catch {
      let e: Y4MError =
        switch error {
        case .noSpace: .diskFull(path: path, framesWritten: framesWritten)
        case .brokenPipe: .closedPipe(path: path, framesWritten: framesWritten)
        default: .write(path: path, errno: error, framesWritten: framesWritten)
        }
      if let o = committedOffset { _ = sys.backend.truncate(fd, length: o) }
      failure = e
      throw e
    }
  }

  /// Closes the output (not standard output); a temporary file is then renamed over `path`,
  /// unless a write failed (then it is removed and the previous file kept).
  public func close() throws(Y4MError) {
    if closed { return }
    closed = true
    var failed = failure
    if ownsDescriptor {
      if temporary != nil && failed == nil && fsync(fd) != 0 {
        failed = .write(path: path, errno: .current, framesWritten: framesWritten)
      }
      do { try sys.close(fd) } catch {
        if failed == nil { failed = .write(path: path, errno: error, framesWritten: framesWritten) }
      }
    }
    guard let temporary else {
      if let failed, failure == nil { throw failed }
      return
    }
    self.temporary = nil
    if let failed {
      unlink(temporary)
      if failure == nil { throw failed }
      return
    }
    if rename(temporary, path) != 0 {
      let e = Errno.current
      unlink(temporary)
      throw .write(path: path, errno: e, framesWritten: framesWritten)
    }
  }

  /// Closes the output without finishing it: a temporary file is removed (the previous file
  /// at `path` stays as it was); a device, FIFO or stdout is just closed.
  public func discard() {
    if !closed {
      closed = true
      if ownsDescriptor { try? sys.close(fd) }
    }
    if let temporary {
      unlink(temporary)
      self.temporary = nil
    }
  }
}
