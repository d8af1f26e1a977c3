import CV4L2

/// An errno value as a typed error. Unknown values survive (it is a struct, not an enum).
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
  public var rawValue: Int32
  public init(rawValue: Int32) { self.rawValue = rawValue }
  public init(_ raw: Int32) { self.rawValue = raw }

  public static let notPermitted = Errno(EPERM)
  public static let noSuchFile = Errno(ENOENT)
  public static let interrupted = Errno(EINTR)
  public static let ioError = Errno(EIO)
  public static let badFileDescriptor = Errno(EBADF)
  public static let tryAgain = Errno(EAGAIN)
  public static let noMemory = Errno(ENOMEM)
  public static let permissionDenied = Errno(EACCES)
  public static let busy = Errno(EBUSY)
  public static let noDevice = Errno(ENODEV)
  public static let invalidArgument = Errno(EINVAL)
  public static let noSpace = Errno(ENOSPC)
  public static let brokenPipe = Errno(EPIPE)
  public static let notSupported = Errno(ENOTTY)
  public static let timedOut = Errno(ETIMEDOUT)
  public static let noSuchDeviceOrAddress = Errno(ENXIO)
  public static let notImplemented = Errno(ENOSYS)

  /// The errno of the calling thread right now.
  public static var current: Errno { Errno(zsm_errno()) }

  /// The symbolic name where known ("ENODEV"), else the number.
  public var name: String {
    switch rawValue {
    case EPERM: "EPERM"
    case ENOENT: "ENOENT"
    case EINTR: "EINTR"
    case EIO: "EIO"
    case EBADF: "EBADF"
    case EAGAIN: "EAGAIN"
    case ENOMEM: "ENOMEM"
    case EACCES: "EACCES"
    case EBUSY: "EBUSY"
    case ENODEV: "ENODEV"
    case EINVAL: "EINVAL"
    case ENOSPC: "ENOSPC"
    case EPIPE: "EPIPE"
    case ENOTTY: "ENOTTY"
    case ETIMEDOUT: "ETIMEDOUT"
    case ENXIO: "ENXIO"
    case ENOSYS: "ENOSYS"
    default: "errno \(rawValue)"
    }
  }

  public var description: String {
    guard let s = strerror(rawValue) else { return name }
    return "\(name) (\(String(cString: s)))"
  }

  /// Lets `catch Errno.busy` style matching work in `switch`/`catch` patterns.
  public static func ~= (lhs: Errno, rhs: any Error) -> Bool {
    (rhs as? Errno) == lhs
  }
}
