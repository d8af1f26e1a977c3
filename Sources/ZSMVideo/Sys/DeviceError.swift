/// The call that failed, for error messages.
public enum DeviceCall: Sendable, Equatable, CustomStringConvertible {
  case open
  case close
  case ioctl(UInt)
  case mmap
  case munmap
  case poll
  case read
  case write
  case dequeueTimeout

  public var description: String {
    switch self {
    case .open: "open"
    case .close: "close"
    case .ioctl(let r): ioctlName(r)
    case .mmap: "mmap"
    case .munmap: "munmap"
    case .poll: "poll"
    case .read: "read"
    case .write: "write"
    case .dequeueTimeout: "waiting for a frame"
    }
  }
}

/// A failed device operation: which device, which call, the errno, and what to do about it.
public struct DeviceError: Error, CustomStringConvertible, Sendable {
  public var path: String
  public var call: DeviceCall
  public var errno: Errno
  /// What holds the device, which group to join, or what else to check.
  public var hint: String?

  public init(path: String, call: DeviceCall, errno: Errno, hint: String? = nil) {
    self.path = path
    self.call = call
    self.errno = errno
    self.hint = hint
  }

  public var description: String {
    var s = "\(path): \(call) failed: \(errno)"
    if let hint { s += "; \(hint)" }
    return s
  }
}
