#if canImport(Glibc)
  import Glibc
#endif

/// systemd's notification protocol without libsystemd: one datagram per message to the
/// AF_UNIX socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
/// Without that variable every call does nothing, so the daemon also runs outside systemd.
public final class SystemdNotifier {
  private let fd: Int32
  private var address = sockaddr_un()
  private let addressLength: socklen_t
  /// Half the watchdog interval systemd asked for (`$WATCHDOG_USEC`), if any.
  public let watchdogInterval: Double?

  public init(environment: [String: String]) {
    var descriptor: Int32 = -1
    var length: socklen_t = 0
    if let path = environment["NOTIFY_SOCKET"], !path.isEmpty, path.utf8.count < 108 {
      descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
      address.sun_family = sa_family_t(AF_UNIX)
      var bytes = Array(path.utf8)
      if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
      withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
      }
      length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    }
    fd = descriptor
    addressLength = length
    let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
    if pidMatches, let usec = environment["WATCHDOG_USEC"].flatMap(Double.init), usec > 0 {
      watchdogInterval = usec / 2e6
    } else {
      watchdogInterval = nil
    }
  }

  deinit { if fd >= 0 { close(fd) } }

  public var isActive: Bool { fd >= 0 }

  /// Sends `message` (e.g. "READY=1", "STATUS=…", "WATCHDOG=1"); errors are ignored, as
  /// sd_notify's are: the service must not fail because its supervisor went away.
  public func notify(text message: String) {
    guard fd >= 0 else { return }
    let bytes = Array(message.utf8)
    bytes.withUnsafeBytes { send($0) }
  }

  /// Sends a fixed message without allocating.
  public func notify(_ message: StaticString) {
    guard fd >= 0 else { return }
    message.withUTF8Buffer { send(UnsafeRawBufferPointer($0)) }
  }

  /// Sends the text of `buffer` without allocating.
  func notify(_ buffer: TextBuffer) {
    guard fd >= 0 else { return }
    send(UnsafeRawBufferPointer(start: buffer.bytes, count: buffer.count))
  }

  private func send(_ payload: UnsafeRawBufferPointer) {
    var addr = address
    _ = withUnsafePointer(to: &addr) { a in
      a.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        // Never block the pipeline on a supervisor that does not read: a datagram that does not
        // fit the socket's queue is dropped (watchdog pings and STATUS lines repeat anyway).
        sendto(fd, payload.baseAddress, payload.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0, addressLength)
      }
    }
  }
}
