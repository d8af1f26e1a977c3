import CV4L2

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

  /// Creates (or truncates) `path`; `-` writes to standard output. With `writesHeader` false
  /// only FRAME records are written (a continuation of another stream, e.g. a later part of a
  /// clip cut into frame ranges: `cat` of the parts is one stream).
  public convenience init(path: String, header: Y4MHeader, sys: Sys = .live, writesHeader: Bool = true)
    throws(Y4MError)
  {
    if path == "-" {
      try self.init(
        descriptor: 1, path: "<stdout>", header: header, sys: sys, ownsDescriptor: false, writesHeader: writesHeader)
    } else {
      let fd: Int32
      do {
        fd = try sys.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
      } catch { throw .open(path: path, errno: error) }
      try self.init(
        descriptor: fd, path: path, header: header, sys: sys, ownsDescriptor: true, writesHeader: writesHeader)
    }
  }

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

  deinit { try? close() }

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

  /// Closes the output (not standard output).
  public func close() throws(Y4MError) {
    if closed { return }
    closed = true
    if ownsDescriptor {
      do { try sys.close(fd) } catch {
        if failure == nil { throw .write(path: path, errno: error, framesWritten: framesWritten) }
      }
    }
  }
}
