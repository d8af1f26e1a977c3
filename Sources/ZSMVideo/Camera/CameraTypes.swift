import CV4L2
import ZSMKernels

/// A V4L2 pixel format code (`V4L2_PIX_FMT_*`), printed as its four characters.
public struct FourCC: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public var rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// From four ASCII characters ("YUYV"); nil if `s` is not exactly four of them.
  public init?(_ s: String) {
    let b = Array(s.utf8)
    guard b.count == 4 else { return nil }
    rawValue = UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
  }

  public static let yuyv = FourCC(rawValue: ZSM_V4L2_PIX_FMT_YUYV)
  public static let uyvy = FourCC(rawValue: ZSM_V4L2_PIX_FMT_UYVY)
  public static let nv12 = FourCC(rawValue: ZSM_V4L2_PIX_FMT_NV12)
  public static let yuv420 = FourCC(rawValue: ZSM_V4L2_PIX_FMT_YUV420)
  public static let grey = FourCC(rawValue: ZSM_V4L2_PIX_FMT_GREY)
  public static let mjpeg = FourCC(rawValue: ZSM_V4L2_PIX_FMT_MJPEG)

  /// Formats `CapturedFrame.convert` handles.
  public static let convertible: [FourCC] = [.yuyv, .nv12, .yuv420, .grey]

  public var description: String {
    let bytes = (0..<4).map { UInt8(truncatingIfNeeded: rawValue >> (8 * UInt32($0))) }
    return String(decoding: bytes.map { $0 >= 32 && $0 < 127 ? $0 : 0x3F }, as: UTF8.self)
  }
}

/// The format a camera delivers, as read back from the driver after buffers were allocated.
public struct CameraFormat: Sendable, Equatable, CustomStringConvertible {
  public var fourcc: FourCC
  public var width: Int
  public var height: Int
  public var bytesPerLine: Int
  public var sizeImage: Int
  /// Frame interval (seconds per frame) as numerator/denominator; 0/0 if unknown.
  public var frameInterval: (Int, Int)

  public init(fourcc: FourCC, width: Int, height: Int, bytesPerLine: Int, sizeImage: Int, frameInterval: (Int, Int)) {
    self.fourcc = fourcc
    self.width = width
    self.height = height
    self.bytesPerLine = bytesPerLine
    self.sizeImage = sizeImage
    self.frameInterval = frameInterval
  }

  public static func == (a: CameraFormat, b: CameraFormat) -> Bool {
    a.fourcc == b.fourcc && a.width == b.width && a.height == b.height && a.bytesPerLine == b.bytesPerLine
      && a.sizeImage == b.sizeImage && a.frameInterval == b.frameInterval
  }

  public var framesPerSecond: Double {
    frameInterval.0 > 0 ? Double(frameInterval.1) / Double(frameInterval.0) : 0
  }

  public var description: String {
    "\(fourcc) \(width)x\(height) (\(bytesPerLine) bytes/line, \(sizeImage) bytes/frame"
      + (frameInterval.0 > 0 ? ", \(frameInterval.1)/\(frameInterval.0) fps)" : ")")
  }
}

/// One frame, valid until the next `V4L2Camera.nextFrame` call (its buffer then goes back to
/// the driver).
public struct CapturedFrame {
  public var data: UnsafeRawBufferPointer
  public var format: CameraFormat
  /// The driver's sequence number.
  public var sequence: UInt32
  /// Capture time (the driver's timestamp, CLOCK_MONOTONIC for most drivers), nanoseconds.
  public var timestampNanoseconds: Int64
  /// Frames lost just before this one (gaps in the sequence numbers).
  public var droppedBefore: Int

  /// Converts to planar float RGB (YUYV, NV12, YU12 and GREY).
  /// - Returns: false if the format cannot be converted or the frame is short.
  @discardableResult
  public func convert(to dst: PlanarRGB, coefficients: YCbCrCoefficients, rows: Range<Int>? = nil) -> Bool {
    let f = format
    guard dst.width == f.width, dst.height == f.height, let base = data.baseAddress else { return false }
    let p = base.assumingMemoryBound(to: UInt8.self)
    let rows = rows ?? 0..<f.height
    let bpl = f.bytesPerLine
    switch f.fourcc {
    case .yuyv:
      guard data.count >= bpl * f.height else { return false }
      convertYUYVToRGB(p, srcRowBytes: bpl, to: dst, coefficients: coefficients, rows: rows)
    case .nv12:
      guard data.count >= bpl * f.height + bpl * ((f.height + 1) / 2) else { return false }
      convertNV12ToRGB(
        luma: p, lumaRowBytes: bpl, chroma: p + bpl * f.height, chromaRowBytes: bpl, to: dst,
        coefficients: coefficients, rows: rows)
    case .yuv420:
      let cbpl = bpl / 2
      let ch = (f.height + 1) / 2
      guard data.count >= bpl * f.height + 2 * cbpl * ch else { return false }
      convertPlanarYUVToRGB(
        luma: p, lumaRowBytes: bpl, cb: p + bpl * f.height, cr: p + bpl * f.height + cbpl * ch, chromaRowBytes: cbpl,
        chromaShiftX: 1, chromaShiftY: 1, to: dst, coefficients: coefficients, rows: rows)
    case .grey:
      guard data.count >= bpl * f.height else { return false }
      convertGrayToRGB(luma: p, lumaRowBytes: bpl, to: dst, coefficients: coefficients, rows: rows)
    default:
      return false
    }
    return true
  }
}

/// What `nextFrame` returns.
public enum CaptureEvent {
  case frame(CapturedFrame)
  /// The camera is gone or silent; the camera code is reconnecting (with back-off). `reason`
  /// says why (the last error).
  case noSignal(reason: String)
}

/// Counters for a state endpoint / log line.
public struct CaptureStatistics: Sendable, Equatable {
  public var framesCaptured = 0
  public var framesDropped = 0
  public var reconnects = 0
  public var online = false

  public init(framesCaptured: Int = 0, framesDropped: Int = 0, reconnects: Int = 0, online: Bool = false) {
    self.framesCaptured = framesCaptured
    self.framesDropped = framesDropped
    self.reconnects = reconnects
    self.online = online
  }
}

/// What the caller asks for; the driver may adjust it (read back in `V4L2Camera.format`).
public struct CameraConfiguration: Sendable {
  public var path: String
  public var fourcc: FourCC
  public var width: Int
  public var height: Int
  /// Requested frames per second, or nil to keep the driver's.
  public var framesPerSecond: Int?
  public var bufferCount: Int
  /// No frame for this long means "no signal": the device is closed and reopened.
  public var frameTimeoutMilliseconds: Int
  /// First and largest delay between reconnection attempts (doubling in between).
  public var reconnectInitialMilliseconds: Int
  public var reconnectMaximumMilliseconds: Int

  public init(
    path: String = "/dev/video0", fourcc: FourCC = .yuyv, width: Int = 640, height: Int = 480,
    framesPerSecond: Int? = nil, bufferCount: Int = 4, frameTimeoutMilliseconds: Int = 2000,
    reconnectInitialMilliseconds: Int = 100, reconnectMaximumMilliseconds: Int = 1000
  ) {
    self.path = path
    self.fourcc = fourcc
    self.width = width
    self.height = height
    self.framesPerSecond = framesPerSecond
    self.bufferCount = bufferCount
    self.frameTimeoutMilliseconds = frameTimeoutMilliseconds
    self.reconnectInitialMilliseconds = reconnectInitialMilliseconds
    self.reconnectMaximumMilliseconds = reconnectMaximumMilliseconds
  }
}
