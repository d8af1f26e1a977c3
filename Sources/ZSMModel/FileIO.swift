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

// MARK: - Streaming reads, directories, atomic replacement

extension FileIO {
  /// Reads the file at `path` from start to end in chunks of at most `chunkSize` bytes, handing
  /// each to `body` (the buffer is reused: copy what must outlive the call). One buffer for the
  /// whole file, so a large checkpoint can be hashed without holding it in memory.
  static func readChunks(
    path: String, chunkSize: Int, _ body: (UnsafeRawBufferPointer) -> Void
  ) throws(FileIOFailure) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileIOFailure(message: "cannot open: \(errnoText())") }
    defer { close(fd) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
    defer { buffer.deallocate() }
    guard let base = buffer.baseAddress else { return }
    var done = 0
    while true {
      let got = read(fd, base, chunkSize)
      if got < 0 {
        if errno == EINTR { continue }
        throw FileIOFailure(message: "read failed at byte \(done): \(errnoText())")
      }
      if got == 0 { return }
      body(UnsafeRawBufferPointer(start: base, count: got))
      done += got
    }
  }

  /// Creates the directory at `path` and any missing parents (like `mkdir -p`); an existing
  /// directory is fine, an existing file of another kind is not.
  static func createDirectories(_ path: String) throws(FileIOFailure) {
    guard !path.isEmpty else { return }
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
      prefix += component
      if mkdir(prefix, 0o755) != 0 {
        let code = errno
        var info = stat()
        guard code == EEXIST, stat(prefix, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
          errno = code
          throw FileIOFailure(message: "cannot create directory \(prefix): \(errnoText())")
        }
      }
      prefix += "/"
    }
  }

  /// Replaces the file at `path` with `bytes` so that a reader sees either the old file or the
  /// whole new one, never a partial write (a crash or a full disk mid-way leaves the old file):
  /// the bytes go to `path.tmp`, are flushed to the disk, and `path.tmp` is renamed over
  /// `path`. On failure `path.tmp` is removed. Messages name the file that failed.
  static func replaceAtomically(path: String, with bytes: [UInt8]) throws(FileIOFailure) {
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FileIOFailure(message: "cannot create \(temporary): \(errnoText())") }
    var failure: String?
    bytes.withUnsafeBytes { buffer in
      guard let base = buffer.baseAddress else { return }
      var done = 0
      while done < buffer.count {
        let put = write(fd, base + done, buffer.count - done)
        if put < 0 {
          if errno == EINTR { continue }
          failure = "cannot write \(temporary) (at byte \(done)): \(errnoText())"
          return
        }
        done += put
      }
    }
    if failure == nil, fsync(fd) != 0 { failure = "cannot flush \(temporary) to disk: \(errnoText())" }
    if close(fd) != 0, failure == nil { failure = "cannot close \(temporary): \(errnoText())" }
    if failure == nil, rename(temporary, path) != 0 {
      failure = "cannot rename \(temporary) to \(path): \(errnoText())"
    }
    if let failure {
      unlink(temporary)
      throw FileIOFailure(message: failure)
    }
  }
}
