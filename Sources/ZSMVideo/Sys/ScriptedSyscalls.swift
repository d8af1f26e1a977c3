import CV4L2

/// A `SyscallBackend` that replays a script of expected calls and replies, and records every
/// call it sees. Unit tests use it to drive the camera and display code with recorded device
/// behaviour: filled structs (a `v4l2_buffer` from VIDIOC_DQBUF), EINTR, EAGAIN, ENODEV, EBUSY.
///
/// Calls are matched in order against the script. A call that does not match the next step
/// (or comes after the script ends) is recorded in `mismatches` and fails with EIO. Time is
/// simulated: `sleep` and `poll` timeouts advance `clock` instead of waiting.
public final class ScriptedSyscalls: SyscallBackend {
  /// One recorded call.
  public struct Call: CustomStringConvertible, Equatable {
    public var name: String
    public var fd: Int32
    public var detail: String
    public var description: String { fd >= 0 ? "\(name)(\(fd)) \(detail)" : "\(name) \(detail)" }
  }

  /// What a scripted call answers.
  public enum Reply {
    /// Success with this value (the fd for open, the byte count for read/write, the number of
    /// ready descriptors for poll, the result for ioctl).
    case value(Int)
    /// Failure with this errno.
    case fail(Errno)
    /// Success after running the closure on the argument (the ioctl struct, the pollfd, the
    /// read buffer), returning its value.
    case fill((UnsafeMutableRawPointer) -> Int)
  }

  public struct Step {
    public var name: String
    public var request: UInt?
    public var path: String?
    public var reply: Reply
  }

  public private(set) var trace: [Call] = []
  public private(set) var mismatches: [String] = []
  public var steps: [Step] = []
  public private(set) var cursor = 0
  /// Simulated monotonic time, in nanoseconds.
  public var clock: Int64 = 1_000_000_000
  /// Fake directory listings for `directoryEntries`.
  public var directories: [String: [String]] = [:]
  /// Memory handed out by `mmap`, by (fd, offset).
  public private(set) var mappings: [(fd: Int32, offset: Int64, address: UnsafeMutableRawPointer, length: Int)] = []
  /// Data written by `write`, per fd.
  public private(set) var written: [Int32: [UInt8]] = [:]

  public init() {}

  deinit {
    for m in mappings { m.address.deallocate() }
  }

  /// Appends a step: `name` is open/close/ioctl/mmap/munmap/poll/read/write.
  public func expect(_ name: String, request: UInt? = nil, path: String? = nil, _ reply: Reply) {
    steps.append(Step(name: name, request: request, path: path, reply: reply))
  }

  /// True when every step was used and no call was unexpected.
  public var finished: Bool { cursor == steps.count && mismatches.isEmpty }

  /// The steps not yet reached, for failure messages.
  public var remaining: [String] {
    steps[cursor...].map { $0.name + ($0.request.map { " " + ioctlName($0) } ?? "") + ($0.path.map { " " + $0 } ?? "") }
  }

  /// The memory `mmap` returned for (fd, offset), for tests that fill frame data.
  public func mapping(fd: Int32, offset: Int64) -> UnsafeMutableRawPointer? {
    mappings.first { $0.fd == fd && $0.offset == offset }?.address
  }

  func next(_ name: String, fd: Int32, request: UInt? = nil, path: String? = nil, detail: String) -> Reply {
    trace.append(Call(name: name, fd: fd, detail: detail))
    guard cursor < steps.count else {
      mismatches.append("unexpected \(name) \(detail) after the script ended")
      return .fail(.ioError)
    }
    let s = steps[cursor]
    if s.name != name || (s.request != nil && s.request != request) || (s.path != nil && s.path != path) {
      mismatches.append("step \(cursor): expected \(remaining.first ?? "?"), got \(name) \(detail)")
      return .fail(.ioError)
    }
    cursor += 1
    return s.reply
  }

  func int(_ r: Reply, _ arg: UnsafeMutableRawPointer?) -> Result<Int, Errno> {
    switch r {
    case .value(let v): .success(v)
    case .fail(let e): .failure(e)
    case .fill(let body):
      if let arg { .success(body(arg)) } else { .failure(.invalidArgument) }
    }
  }

  public func open(_ path: String, flags: Int32, mode: UInt32, kind: FileKind) -> Result<Int32, Errno> {
    int(next("open", fd: -1, path: path, detail: path), nil).map { Int32($0) }
  }

  public func close(_ fd: Int32) -> Result<Void, Errno> {
    int(next("close", fd: fd, detail: ""), nil).map { _ in () }
  }

  public func ioctl(_ fd: Int32, _ request: UInt, _ arg: UnsafeMutableRawPointer) -> Result<Int32, Errno> {
    int(next("ioctl", fd: fd, request: request, detail: ioctlName(request)), arg).map { Int32($0) }
  }

  public func mmap(length: Int, protection: Int32, flags: Int32, fd: Int32, offset: Int64) -> Result<
    UnsafeMutableRawPointer, Errno
  > {
    switch int(next("mmap", fd: fd, detail: "length \(length) offset \(offset)"), nil) {
    case .failure(let e): return .failure(e)
    case .success:
      let p = UnsafeMutableRawPointer.allocate(byteCount: max(length, 1), alignment: 64)
      p.initializeMemory(as: UInt8.self, repeating: 0, count: max(length, 1))
      mappings.append((fd, offset, p, length))
      return .success(p)
    }
  }

  public func munmap(_ address: UnsafeMutableRawPointer, length: Int) -> Result<Void, Errno> {
    int(next("munmap", fd: -1, detail: "length \(length)"), nil).map { _ in () }
  }

  public func poll(_ fds: UnsafeMutablePointer<pollfd>, count: Int, timeoutMilliseconds: Int32) -> Result<Int32, Errno>
  {
    let r = int(next("poll", fd: fds.pointee.fd, detail: "timeout \(timeoutMilliseconds) ms"), fds)
    if case .success(0) = r { clock += Int64(max(timeoutMilliseconds, 0)) * 1_000_000 }
    return r.map { Int32($0) }
  }

  public func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, count: Int) -> Result<Int, Errno> {
    int(next("read", fd: fd, detail: "\(count) bytes"), buffer)
  }

  public func write(_ fd: Int32, _ buffer: UnsafeRawPointer, count: Int) -> Result<Int, Errno> {
    let r = int(next("write", fd: fd, detail: "\(count) bytes"), UnsafeMutableRawPointer(mutating: buffer))
    if case .success(let n) = r {
      written[fd, default: []] += Array(UnsafeRawBufferPointer(start: buffer, count: min(max(n, 0), count)))
    }
    return r
  }

  public func truncate(_ fd: Int32, length: Int64) -> Result<Void, Errno> {
    int(next("ftruncate", fd: fd, detail: "\(length)"), nil).map { _ in () }
  }

  /// Descriptors that behave as regular files (seekable), with their starting offset.
  public var seekable: [Int32: Int64] = [:]

  public func currentOffset(_ fd: Int32) -> Int64? {
    guard let base = seekable[fd] else { return nil }
    return base + Int64(written[fd]?.count ?? 0)
  }

  public func directoryEntries(_ path: String) -> [String] { directories[path] ?? [] }

  /// Fake symbolic links (`/proc/<pid>/fd/<n>` -> device) for `readLink`.
  public var links: [String: String] = [:]
  /// Fake file groups for `groupName(ofFile:)`.
  public var groups: [String: String] = [:]

  public func readLink(_ path: String) -> String? { links[path] }

  public func groupName(ofFile path: String) -> String? { groups[path] }

  public func monotonicNanoseconds() -> Int64 { clock }

  public func sleep(nanoseconds: Int64) {
    trace.append(Call(name: "sleep", fd: -1, detail: "\(nanoseconds / 1_000_000) ms"))
    clock += nanoseconds
  }
}
