import ZSMKernels

/// The colour spaces (`C` tag) a Y4M stream may declare that this reader handles.
public enum Y4MColorSpace: String, Sendable, CaseIterable {
  case c420jpeg = "420jpeg"
  case c420mpeg2 = "420mpeg2"
  case c420paldv = "420paldv"
  case c420 = "420"
  case c444 = "444"
  case mono = "mono"

  /// log2 of the chroma subsampling (x, y); nil for mono (no chroma planes).
  public var chromaShift: (x: Int, y: Int)? {
    switch self {
    case .c420jpeg, .c420mpeg2, .c420paldv, .c420: (1, 1)
    case .c444: (0, 0)
    case .mono: nil
    }
  }
}

/// A Y4M (YUV4MPEG2) stream header: `YUV4MPEG2 W<w> H<h> F<n>:<d> I<i> A<n>:<d> C<cs> X<...>`.
public struct Y4MHeader: Sendable, Equatable {
  public var width: Int
  public var height: Int
  /// Frame rate as numerator:denominator (F). 0:0 means unknown.
  public var frameRate: (Int, Int)
  /// Pixel aspect ratio (A); 0:0 means unknown.
  public var aspect: (Int, Int)
  /// Interlacing (I): p progressive, t top field first, b bottom field first, m mixed, ? unknown.
  public var interlacing: Character
  public var colorSpace: Y4MColorSpace
  /// Extension tokens (X...), kept verbatim without the X.
  public var extensions: [String]

  public init(
    width: Int, height: Int, frameRate: (Int, Int) = (25, 1), aspect: (Int, Int) = (1, 1),
    interlacing: Character = "p", colorSpace: Y4MColorSpace = .c420jpeg, extensions: [String] = []
  ) {
    self.width = width
    self.height = height
    self.frameRate = frameRate
    self.aspect = aspect
    self.interlacing = interlacing
    self.colorSpace = colorSpace
    self.extensions = extensions
  }

  public static func == (a: Y4MHeader, b: Y4MHeader) -> Bool {
    a.width == b.width && a.height == b.height && a.frameRate == b.frameRate && a.aspect == b.aspect
      && a.interlacing == b.interlacing && a.colorSpace == b.colorSpace && a.extensions == b.extensions
  }

  /// Largest width or height accepted (guards the frame size arithmetic against hostile headers).
  public static let maximumDimension = 16384
  /// Largest numerator or denominator of a frame rate or aspect ratio (a 32-bit int, as other
  /// Y4M tools read them); the size arithmetic on them then never overflows.
  public static let maximumRateTerm = Int(Int32.max)

  /// Bytes of one frame's payload: Y, then Cb and Cr planes (if any).
  public var frameByteCount: Int {
    let luma = width * height
    guard let s = colorSpace.chromaShift else { return luma }
    return luma + 2 * chromaWidth * ((height + s.y) >> s.y)
  }

  public var chromaWidth: Int {
    guard let s = colorSpace.chromaShift else { return 0 }
    return (width + s.x) >> s.x
  }

  public var chromaHeight: Int {
    guard let s = colorSpace.chromaShift else { return 0 }
    return (height + s.y) >> s.y
  }

  /// Range declared by ffmpeg's `XCOLORRANGE=FULL|LIMITED` extension; limited if absent.
  public var range: YCbCrRange {
    extensions.contains("COLORRANGE=FULL") ? .full : .limited
  }

  /// The header line including the trailing newline.
  public var line: String {
    var s = "YUV4MPEG2 W\(width) H\(height) F\(frameRate.0):\(frameRate.1) I\(interlacing)"
    s += " A\(aspect.0):\(aspect.1) C\(colorSpace.rawValue)"
    for x in extensions { s += " X" + x }
    return s + "\n"
  }

  /// Parses a header line (without the newline). `path` only names the stream in errors.
  public static func parse(_ line: [UInt8], path: String) throws(Y4MError) -> Y4MHeader {
    let text = String(decoding: line, as: UTF8.self)
    let tokens = text.split(separator: " ", omittingEmptySubsequences: true)
    guard tokens.first == "YUV4MPEG2" else {
      throw .badHeader(path: path, reason: "does not start with 'YUV4MPEG2 ' (not a Y4M stream?)")
    }
    var width: Int?
    var height: Int?
    var header = Y4MHeader(width: 0, height: 0, frameRate: (0, 0), aspect: (0, 0), interlacing: "?")
    for token in tokens.dropFirst() {
      let tag = token.first!
      let value = String(token.dropFirst())
      switch tag {
      case "W":
        width = Int(value)
        if width == nil { throw .badHeader(path: path, reason: "width 'W\(value)' is not a number") }
      case "H":
        height = Int(value)
        if height == nil { throw .badHeader(path: path, reason: "height 'H\(value)' is not a number") }
      case "F":
        guard let r = ratio(value), r.1 != 0 || r.0 == 0 else {
          throw .badHeader(path: path, reason: "frame rate 'F\(value)' is not n:d with n, d <= \(maximumRateTerm)")
        }
        header.frameRate = r
      case "A":
        guard let r = ratio(value) else {
          throw .badHeader(path: path, reason: "aspect 'A\(value)' is not n:d with n, d <= \(maximumRateTerm)")
        }
        header.aspect = r
      case "I":
        guard value.count == 1, "ptbm?".contains(value) else {
          throw .badHeader(path: path, reason: "interlacing 'I\(value)' is not one of p t b m ?")
        }
        header.interlacing = value.first!
      case "C":
        guard let cs = Y4MColorSpace(rawValue: value) else {
          throw .unsupportedColorSpace(path: path, colorSpace: value)
        }
        header.colorSpace = cs
      case "X": header.extensions.append(value)
      default: throw .badHeader(path: path, reason: "unknown tag '\(token)'")
      }
    }
    guard let w = width else { throw .badHeader(path: path, reason: "no width (W)") }
    guard let h = height else { throw .badHeader(path: path, reason: "no height (H)") }
    guard w > 0, h > 0, w <= maximumDimension, h <= maximumDimension else {
      throw .badHeader(path: path, reason: "size \(w)x\(h) outside 1...\(maximumDimension)")
    }
    header.width = w
    header.height = h
    return header
  }

  static func ratio(_ s: String) -> (Int, Int)? {
    let parts = s.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2, let n = Int(parts[0]), let d = Int(parts[1]), (0...maximumRateTerm).contains(n),
      (0...maximumRateTerm).contains(d)
    else { return nil }
    return (n, d)
  }
}

/// What went wrong with a Y4M stream; every case names the stream.
public enum Y4MError: Error, CustomStringConvertible, Equatable {
  case badHeader(path: String, reason: String)
  case unsupportedColorSpace(path: String, colorSpace: String)
  case badFrameHeader(path: String, frame: Int, reason: String)
  /// The stream ended inside frame `frame` (0-based); every earlier frame was whole.
  case truncatedFrame(path: String, frame: Int, bytesRead: Int, bytesExpected: Int)
  case open(path: String, errno: Errno)
  case read(path: String, errno: Errno)
  /// A write failed with ENOSPC; `framesWritten` whole frames are in the output.
  case diskFull(path: String, framesWritten: Int)
  /// The reader of the pipe went away (EPIPE); `framesWritten` whole frames were delivered.
  case closedPipe(path: String, framesWritten: Int)
  case write(path: String, errno: Errno, framesWritten: Int)
  /// A frame buffer of the wrong size was passed.
  case wrongFrameSize(path: String, got: Int, expected: Int)

  /// The message, with the control bytes of the stream's text and path escaped (`\x1b`), so an
  /// input cannot send escape sequences to the terminal that shows the error.
  public var description: String { terminalSafe(unescapedDescription) }

  var unescapedDescription: String {
    switch self {
    case .badHeader(let p, let r): "\(p): bad Y4M header: \(r)"
    case .unsupportedColorSpace(let p, let c):
      "\(p): unsupported Y4M colour space 'C\(c)' (supported: "
        + Y4MColorSpace.allCases.map(\.rawValue).joined(separator: ", ") + ")"
    case .badFrameHeader(let p, let f, let r): "\(p): frame \(f): bad FRAME header: \(r)"
    case .truncatedFrame(let p, let f, let got, let want):
      "\(p): stream ends inside frame \(f) (\(got) of \(want) bytes); the \(f) frames before it are whole"
    case .open(let p, let e): "\(p): cannot open: \(e)"
    case .read(let p, let e): "\(p): read failed: \(e)"
    case .diskFull(let p, let n): "\(p): disk full (ENOSPC) after \(n) whole frames; the output ends after frame \(n)"
    case .closedPipe(let p, let n): "\(p): the reader closed the pipe (EPIPE) after \(n) whole frames"
    case .write(let p, let e, let n): "\(p): write failed after \(n) whole frames: \(e)"
    case .wrongFrameSize(let p, let got, let want): "\(p): frame buffer holds \(got) bytes, a frame is \(want)"
    }
  }
}

/// `text` with control characters (C0, DEL, C1) written as `\xNN`, for messages that quote
/// input (file contents, paths) on a terminal.
public func terminalSafe(_ text: String) -> String {
  guard text.unicodeScalars.contains(where: isControl) else { return text }
  var out = ""
  for u in text.unicodeScalars {
    if isControl(u) {
      let hex = String(u.value, radix: 16)
      out += "\\x" + (hex.count < 2 ? "0" : "") + hex
    } else {
      out.unicodeScalars.append(u)
    }
  }
  return out
}

private func isControl(_ u: Unicode.Scalar) -> Bool {
  u.value < 0x20 && u != "\n" || (0x7F...0x9F).contains(u.value)
}
