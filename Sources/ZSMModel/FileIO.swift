import Glibc

/// Why a whole-file read or write failed: the operation and `errno`'s text.
struct FileIOFailure: Error {
  let message: String
}

/// Whole-file reads and writes through Glibc (`open`, `fstat`, `read`, `write`, `close`),
/// retrying on `EINTR`. Used by the checkpoint and `.bin` readers; no Foundation.
enum FileIO {
  /// The text of the current `errno`.
  private static func errnoText() -> String {
    let code = errno
    if let text = strerror(code) { return "\(String(cString: text)) (errno \(code))" }
    return "errno \(code)"
  }

  /// Reads the whole regular file at `path`.
  static func readAll(path: String) throws(FileIOFailure) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileIOFailure(message: "cannot open: \(errnoText())") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw FileIOFailure(message: "cannot stat: \(errnoText())") }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw FileIOFailure(message: "not a regular file")
    }
    let size = Int(info.st_size)
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    var failure: String?
    bytes.withUnsafeMutableBytes { buffer in
      guard let base = buffer.baseAddress else { return }
      while done < size {
        let got = read(fd, base + done, size - done)
        if got < 0 {
          if errno == EINTR { continue }
          failure = "read failed at byte \(done): \(errnoText())"
          return
        }
        if got == 0 {
          failure = "file shrank while reading: expected \(size) bytes, got \(done)"
          return
        }
        done += got
      }
    }
    if let failure { throw FileIOFailure(message: failure) }
    return bytes
  }

  /// Creates or truncates the file at `path` and writes `bytes` to it.
  static func writeAll(_ bytes: [UInt8], path: String) throws(FileIOFailure) {
    let result = bytes.withUnsafeBytes { buffer in
      Result { () throws(FileIOFailure) in try writeAll([buffer], path: path) }
    }
    try result.get()
  }

  /// Creates or truncates the file at `path` and writes the buffers one after the other
  /// (no copy into one array).
  static func writeAll(_ parts: [UnsafeRawBufferPointer], path: String) throws(FileIOFailure) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FileIOFailure(message: "cannot create: \(errnoText())") }
    var failure: String?
    var written = 0
    parts: for buffer in parts {
      guard let base = buffer.baseAddress else { continue }
      var done = 0
      while done < buffer.count {
        let put = write(fd, base + done, buffer.count - done)
        if put < 0 {
          if errno == EINTR { continue }
          failure = "write failed at byte \(written + done): \(errnoText())"
          break parts
        }
        done += put
      }
      written += done
    }
    if close(fd) != 0, failure == nil { failure = "close failed: \(errnoText())" }
    if let failure { throw FileIOFailure(message: failure) }
  }
}
