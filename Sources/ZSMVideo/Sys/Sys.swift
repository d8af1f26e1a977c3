import CV4L2

/// Thin typed wrappers over a `SyscallBackend`, in the manner of swift-system's
/// `FileDescriptor`: errno becomes a typed `Errno`, EINTR is retried unless told otherwise.
public struct Sys {
  public let backend: any SyscallBackend

  public init(_ backend: any SyscallBackend) { self.backend = backend }

  /// The real kernel.
  public static var live: Sys { Sys(LiveSyscalls.shared) }

  @inline(__always)
  func retrying<T>(_ retry: Bool, _ body: () -> Result<T, Errno>) throws(Errno) -> T {
    while true {
      switch body() {
      case .success(let v): return v
      case .failure(let e):
        if retry && e == .interrupted { continue }
        throw e
      }
    }
  }

  /// Corresponds to `open(2)` (`v4l2_open` for `.v4l2`). Adds O_CLOEXEC.
  public func open(
    _ path: String, flags: Int32, mode: UInt32 = 0, kind: FileKind = .plain, retryOnInterrupt: Bool = true
  )
    throws(Errno) -> Int32
  {
    try retrying(retryOnInterrupt) { backend.open(path, flags: flags | O_CLOEXEC, mode: mode, kind: kind) }
  }

  /// Corresponds to `close(2)`. Never retried (the descriptor is gone after EINTR on Linux).
  public func close(_ fd: Int32) throws(Errno) {
    try backend.close(fd).get()
  }

  /// Corresponds to `ioctl(2)`; returns its non-negative result.
  @discardableResult
  public func ioctl<T>(_ fd: Int32, _ request: UInt, _ arg: inout T, retryOnInterrupt: Bool = true) throws(Errno)
    -> Int32
  {
    try withUnsafeMutableBytes(of: &arg) { (raw) throws(Errno) -> Int32 in
      try retrying(retryOnInterrupt) { backend.ioctl(fd, request, raw.baseAddress!) }
    }
  }

  /// Corresponds to `mmap(2)` with `PROT_READ | PROT_WRITE`, `MAP_SHARED`.
  public func mmap(_ fd: Int32, length: Int, offset: Int64) throws(Errno) -> UnsafeMutableRawPointer {
    try backend.mmap(length: length, protection: PROT_READ | PROT_WRITE, flags: MAP_SHARED, fd: fd, offset: offset)
      .get()
  }

  /// Corresponds to `munmap(2)`.
  public func munmap(_ address: UnsafeMutableRawPointer, length: Int) throws(Errno) {
    try backend.munmap(address, length: length).get()
  }

  /// Waits until `fd` has any of `events` or the timeout passes. Returns the `revents`
  /// (0 on timeout). Corresponds to `poll(2)` on one descriptor.
  public func poll(_ fd: Int32, events: Int16, timeoutMilliseconds: Int32, retryOnInterrupt: Bool = true) throws(Errno)
    -> Int16
  {
    var p = pollfd(fd: fd, events: events, revents: 0)
    let n = try retrying(retryOnInterrupt) { backend.poll(&p, count: 1, timeoutMilliseconds: timeoutMilliseconds) }
    return n == 0 ? 0 : p.revents
  }

  /// Corresponds to `read(2)`.
  public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool = true) throws(Errno)
    -> Int
  {
    try retrying(retryOnInterrupt) { backend.read(fd, buffer.baseAddress!, count: buffer.count) }
  }

  /// Corresponds to `write(2)`.
  public func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, retryOnInterrupt: Bool = true) throws(Errno) -> Int {
    try retrying(retryOnInterrupt) { backend.write(fd, buffer.baseAddress!, count: buffer.count) }
  }

  /// Writes all of `buffer`, looping over short writes. On failure, reports how much was written.
  public func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(Errno) {
    var done = 0
    while done < buffer.count {
      let n = try write(fd, UnsafeRawBufferPointer(rebasing: buffer[done...]))
      if n == 0 { throw Errno.ioError }
      done += n
    }
  }

  /// Reads until `buffer` is full or end of file; returns the bytes read.
  public func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
    var done = 0
    while done < buffer.count {
      let n = try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
      if n == 0 { break }
      done += n
    }
    return done
  }

  public var now: Int64 { backend.monotonicNanoseconds() }
}
