import CV4L2

/// Which library a file is opened through: V4L2 devices go through libv4l2 (so that
/// libv4lconvert can offer YUYV/RGB for MJPEG and vendor formats), everything else through libc.
public enum FileKind: Sendable {
  case plain
  case v4l2
  case drm
}

/// The one seam every syscall of the video code goes through.
///
/// `LiveSyscalls` calls the kernel; `ScriptedSyscalls` replays recorded device behaviour
/// (filled structs, EINTR, EAGAIN, ENODEV, EBUSY) and records a trace, so unit tests drive the
/// camera and display code without devices. Each method corresponds to one libc/libv4l2 call
/// and reports failure as the errno value.
public protocol SyscallBackend: AnyObject {
  /// `open(2)` / `v4l2_open`. Returns the file descriptor.
  func open(_ path: String, flags: Int32, mode: UInt32, kind: FileKind) -> Result<Int32, Errno>
  /// `close(2)` / `v4l2_close`.
  func close(_ fd: Int32) -> Result<Void, Errno>
  /// `ioctl(2)` / `v4l2_ioctl` with a pointer argument.
  func ioctl(_ fd: Int32, _ request: UInt, _ arg: UnsafeMutableRawPointer) -> Result<Int32, Errno>
  /// `mmap(2)` / `v4l2_mmap` of a shared mapping of `fd`.
  func mmap(length: Int, protection: Int32, flags: Int32, fd: Int32, offset: Int64) -> Result<
    UnsafeMutableRawPointer, Errno
  >
  /// `munmap(2)` / `v4l2_munmap`.
  func munmap(_ address: UnsafeMutableRawPointer, length: Int) -> Result<Void, Errno>
  /// `poll(2)`. Returns the number of ready descriptors (0 on timeout).
  func poll(_ fds: UnsafeMutablePointer<pollfd>, count: Int, timeoutMilliseconds: Int32) -> Result<Int32, Errno>
  /// `read(2)`. Returns the byte count (0 at end of file).
  func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, count: Int) -> Result<Int, Errno>
  /// `write(2)`. Returns the byte count.
  func write(_ fd: Int32, _ buffer: UnsafeRawPointer, count: Int) -> Result<Int, Errno>
  /// `ftruncate(2)`.
  func truncate(_ fd: Int32, length: Int64) -> Result<Void, Errno>
  /// `lseek(fd, 0, SEEK_CUR)` where the file is seekable (a regular file), else nil.
  func currentOffset(_ fd: Int32) -> Int64?
  /// Names in a directory (`opendir`/`readdir`), sorted; empty if it cannot be read.
  func directoryEntries(_ path: String) -> [String]
  /// `readlink(2)`; nil if `path` is not a readable symbolic link.
  func readLink(_ path: String) -> String?
  /// The name of the group owning `path` (`stat` + `getgrgid`), for permission hints.
  func groupName(ofFile path: String) -> String?
  /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds.
  func monotonicNanoseconds() -> Int64
  /// `nanosleep`.
  func sleep(nanoseconds: Int64)
}

/// The real kernel.
public final class LiveSyscalls: SyscallBackend, @unchecked Sendable {
  public static let shared = LiveSyscalls()
  public init() {}

  @inline(__always)
  func check(_ r: Int32) -> Result<Int32, Errno> { r < 0 ? .failure(.current) : .success(r) }

  public func open(_ path: String, flags: Int32, mode: UInt32, kind: FileKind) -> Result<Int32, Errno> {
    switch kind {
    case .v4l2: check(zsm_v4l2_open(path, flags))
    case .plain, .drm: check(zsm_open(path, flags, mode))
    }
  }

  public func close(_ fd: Int32) -> Result<Void, Errno> {
    // v4l2_close falls through to close(2) for descriptors libv4l2 does not know.
    v4l2_close(fd) < 0 ? .failure(.current) : .success(())
  }

  public func ioctl(_ fd: Int32, _ request: UInt, _ arg: UnsafeMutableRawPointer) -> Result<Int32, Errno> {
    // v4l2_ioctl falls through to ioctl(2) for descriptors libv4l2 does not know (DRM).
    check(zsm_v4l2_ioctl(fd, request, arg))
  }

  public func mmap(length: Int, protection: Int32, flags: Int32, fd: Int32, offset: Int64) -> Result<
    UnsafeMutableRawPointer, Errno
  > {
    let p = v4l2_mmap(nil, length, protection, flags, fd, offset)
    if p == nil || p == UnsafeMutableRawPointer(bitPattern: -1) { return .failure(.current) }
    return .success(p!)
  }

  public func munmap(_ address: UnsafeMutableRawPointer, length: Int) -> Result<Void, Errno> {
    v4l2_munmap(address, length) < 0 ? .failure(.current) : .success(())
  }

  public func poll(_ fds: UnsafeMutablePointer<pollfd>, count: Int, timeoutMilliseconds: Int32) -> Result<Int32, Errno>
  {
    check(CV4L2.poll(fds, nfds_t(count), timeoutMilliseconds))
  }

  public func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, count: Int) -> Result<Int, Errno> {
    let n = CV4L2.read(fd, buffer, count)
    return n < 0 ? .failure(.current) : .success(n)
  }

  public func write(_ fd: Int32, _ buffer: UnsafeRawPointer, count: Int) -> Result<Int, Errno> {
    let n = CV4L2.write(fd, buffer, count)
    return n < 0 ? .failure(.current) : .success(n)
  }

  public func truncate(_ fd: Int32, length: Int64) -> Result<Void, Errno> {
    ftruncate(fd, off_t(length)) < 0 ? .failure(.current) : .success(())
  }

  public func currentOffset(_ fd: Int32) -> Int64? {
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & UInt32(S_IFMT)) == UInt32(S_IFREG) else { return nil }
    let off = lseek(fd, 0, SEEK_CUR)
    return off < 0 ? nil : Int64(off)
  }

  public func directoryEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
  }

  public func readLink(_ path: String) -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink(path, &buf, buf.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  public func groupName(ofFile path: String) -> String? {
    var st = stat()
    guard stat(path, &st) == 0, let g = getgrgid(st.st_gid), let name = g.pointee.gr_name else { return nil }
    return String(cString: name)
  }

  public func monotonicNanoseconds() -> Int64 { Int64(zsm_monotonic_ns()) }

  public func sleep(nanoseconds: Int64) { zsm_sleep_ns(nanoseconds) }
}
