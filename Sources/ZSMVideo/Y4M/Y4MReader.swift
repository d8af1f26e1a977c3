import CV4L2
import ZSMKernels

#if canImport(Glibc)
  import Glibc
#endif

/// Parameters of one FRAME header (the tokens after `FRAME`, kept verbatim).
public struct Y4MFrameParameters: Sendable, Equatable {
  public var tokens: [String]
}

/// Reads a Y4M stream frame by frame from a file or a pipe (`-` = standard input), holding at
/// most one 64 KiB read buffer besides the caller's frame: nothing reads the whole stream.
public final class Y4MReader {
  public let path: String
  public let header: Y4MHeader
  public private(set) var framesRead = 0
  let sys: Sys
  let fd: Int32
  let ownsDescriptor: Bool
  let buffer: UnsafeMutableRawBufferPointer
  var head = 0
  var tail = 0
  /// The current FRAME line, reused from frame to frame (no allocation in steady state).
  var line: [UInt8] = []
  var atEnd = false
  var closed = false
  /// Asked every 100 ms while the reader waits for the next frame to begin (nothing buffered):
  /// when it returns true, the wait ends as the end of the stream. A daemon whose source is
  /// idle when it is told to stop must not wait for a frame that may never come.
  public var stopWaiting: (() -> Bool)?

  /// Opens `path` (`-` reads standard input) and parses the stream header. A FIFO is opened
  /// without blocking and its first writer awaited with `poll`, asking `stopWaiting` every
  /// 100 ms: when it says so the wait ends with an `open` error (EINTR), so a signal can end a
  /// run whose source never gets a writer (a blocking open cannot be interrupted).
  public convenience init(path: String, sys: Sys = .live, stopWaiting: (() -> Bool)? = nil) throws(Y4MError) {
    if path == "-" {
      try self.init(descriptor: 0, path: "<stdin>", sys: sys, ownsDescriptor: false)
    } else {
      if path.utf8.contains(0) { throw .open(path: path, errno: Errno(EINVAL)) }
      var info = stat()
      let fifo = stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO
      let fd: Int32
      do { fd = try sys.open(path, flags: O_RDONLY | (fifo ? O_NONBLOCK : 0)) } catch {
        throw .open(path: path, errno: error)
      }
      if fifo {
        while true {
          let events: Int16
          do { events = try sys.poll(fd, events: Int16(POLLIN), timeoutMilliseconds: 100) } catch {
            try? sys.close(fd)
            throw .open(path: path, errno: error)
          }
          if events != 0 { break }
          if stopWaiting?() == true {
            try? sys.close(fd)
            throw .open(path: path, errno: Errno(EINTR))
          }
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
      }
      try self.init(descriptor: fd, path: path, sys: sys, ownsDescriptor: true)
    }
  }

  /// Reads from an open descriptor (a pipe, a socket, a file).
  public init(descriptor: Int32, path: String, sys: Sys = .live, ownsDescriptor: Bool) throws(Y4MError) {
    self.sys = sys
    self.fd = descriptor
    self.path = path
    self.ownsDescriptor = ownsDescriptor
    buffer = .allocate(byteCount: 65536, alignment: 64)
    do throws(Y4MError) {
      var headerLine: [UInt8] = []
      guard
        try Y4MReader.readLine(
          sys, descriptor, buffer, &head, &tail, &atEnd, into: &headerLine, limit: 4096, path: path)
      else { throw Y4MError.badHeader(path: path, reason: "empty stream") }
      header = try Y4MHeader.parse(headerLine, path: path)
    } catch {
      buffer.deallocate()
      if ownsDescriptor { try? sys.close(descriptor) }
      throw error
    }
  }

  deinit {
    close()
    buffer.deallocate()
  }

  public func close() {
    if !closed && ownsDescriptor { try? sys.close(fd) }
    closed = true
  }

  /// Bytes of one frame payload.
  public var frameByteCount: Int { header.frameByteCount }

  /// Reads the next frame's payload into `frame` (exactly `frameByteCount` bytes).
  /// Returns its FRAME parameters, or nil at the end of the stream.
  /// - Throws: `truncatedFrame` when the stream ends inside a frame (all earlier frames were
  ///   returned whole), `badFrameHeader`, `read`, `wrongFrameSize`.
  public func readFrame(into frame: UnsafeMutableRawBufferPointer) throws(Y4MError) -> Y4MFrameParameters? {
    guard frame.count == frameByteCount else {
      throw .wrongFrameSize(path: path, got: frame.count, expected: frameByteCount)
    }
    let index = framesRead
    if let stopWaiting, head >= tail, !atEnd {
      while true {
        let events: Int16
        do { events = try sys.poll(fd, events: Int16(POLLIN), timeoutMilliseconds: 100) } catch {
          throw .read(path: path, errno: error)
        }
        if events != 0 { break }
        if stopWaiting() { return nil }
      }
    }
    guard
      try Y4MReader.readLine(sys, fd, buffer, &head, &tail, &atEnd, into: &line, limit: 1024, path: path, frame: index)
    else { return nil }
    let parameters: Y4MFrameParameters
    if line.count == 5 && line.elementsEqual("FRAME".utf8) {
      parameters = Y4MFrameParameters(tokens: [])  // the usual case, without allocating
    } else {
      let text = String(decoding: line, as: UTF8.self)
      // Exactly "FRAME" at the start of the line, then parameters after single spaces.
      guard line.starts(with: "FRAME ".utf8) else {
        throw .badFrameHeader(path: path, frame: index, reason: "expected 'FRAME', found '\(text.prefix(40))'")
      }
      let tokens = text.split(separator: " ").map(String.init)
      parameters = Y4MFrameParameters(tokens: Array(tokens.dropFirst()))
    }
    // Payload: first what is buffered, then straight from the descriptor.
    var done = min(tail - head, frame.count)
    if done > 0 {
      frame.baseAddress!.copyMemory(from: buffer.baseAddress! + head, byteCount: done)
      head += done
    }
    while done < frame.count {
      let n: Int
      do {
        n = try sys.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: frame[done...]))
      } catch { throw .read(path: path, errno: error) }
      if n == 0 {
        atEnd = true
        throw .truncatedFrame(path: path, frame: index, bytesRead: done, bytesExpected: frame.count)
      }
      done += n
    }
    framesRead += 1
    return parameters
  }

  /// Reads one line (without the newline) of at most `limit` bytes into `line` (its capacity is
  /// kept, so a reused array does not allocate). False at a clean end of stream.
  static func readLine(
    _ sys: Sys, _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ head: inout Int, _ tail: inout Int,
    _ atEnd: inout Bool, into line: inout [UInt8], limit: Int, path: String, frame: Int? = nil
  ) throws(Y4MError) -> Bool {
    line.removeAll(keepingCapacity: true)
    while true {
      if head < tail {
        let start = head
        while head < tail && buffer[head] != 0x0A { head += 1 }
        line += buffer[start..<head]
        if line.count > limit {
          if let frame {
            throw .badFrameHeader(path: path, frame: frame, reason: "line longer than \(limit) bytes")
          }
          throw .badHeader(path: path, reason: "header line longer than \(limit) bytes")
        }
        if head < tail {
          head += 1  // the newline
          return true
        }
      }
      if line.count > limit {
        if let frame {
          throw .badFrameHeader(path: path, frame: frame, reason: "no newline in the first \(limit) bytes")
        }
        throw .badHeader(path: path, reason: "no newline in the first \(limit) bytes")
      }
      if atEnd { break }
      head = 0
      do {
        tail = try sys.read(fd, into: buffer)
      } catch { throw .read(path: path, errno: error) }
      if tail == 0 { atEnd = true }
    }
    if line.isEmpty { return false }
    if let frame { throw .truncatedFrame(path: path, frame: frame, bytesRead: 0, bytesExpected: 0) }
    throw .badHeader(path: path, reason: "stream ends inside the header")
  }
}

extension Y4MHeader {
  /// Converts one frame payload to planar float RGB with the given matrix (Y4M does not say;
  /// BT.601 is the usual choice for SD, BT.709 for HD) and the range of `XCOLORRANGE`.
  public func convertToRGB(_ frame: UnsafeRawBufferPointer, to dst: PlanarRGB, matrix: YCbCrMatrix) {
    precondition(frame.count >= frameByteCount && dst.width == width && dst.height == height)
    let c = YCbCrCoefficients(matrix, range)
    let y = frame.baseAddress!.assumingMemoryBound(to: UInt8.self)
    guard let s = colorSpace.chromaShift else {
      convertGrayToRGB(luma: y, lumaRowBytes: width, to: dst, coefficients: c, rows: 0..<height)
      return
    }
    let cb = y + width * height
    let cr = cb + chromaWidth * chromaHeight
    convertPlanarYUVToRGB(
      luma: y, lumaRowBytes: width, cb: cb, cr: cr, chromaRowBytes: chromaWidth, chromaShiftX: s.x,
      chromaShiftY: s.y, to: dst, coefficients: c, rows: 0..<height)
  }

  /// Converts the rectangle of one frame payload whose top-left corner is (`x`, `y`) and whose
  /// size is `dst`'s to planar float RGB: what `convertToRGB` gives for those pixels (chroma is
  /// taken from the nearest sample, so a corner on the chroma grid sees the same samples).
  public func convertToRGB(
    _ frame: UnsafeRawBufferPointer, to dst: PlanarRGB, matrix: YCbCrMatrix, x: Int, y: Int
  ) {
    let s = colorSpace.chromaShift ?? (0, 0)
    precondition(
      frame.count >= frameByteCount && x >= 0 && y >= 0 && x + dst.width <= width && y + dst.height <= height
        && x & ((1 << s.x) - 1) == 0 && y & ((1 << s.y) - 1) == 0)
    let c = YCbCrCoefficients(matrix, range)
    let luma = frame.baseAddress!.assumingMemoryBound(to: UInt8.self)
    let origin = luma + y * width + x
    guard colorSpace.chromaShift != nil else {
      convertGrayToRGB(luma: origin, lumaRowBytes: width, to: dst, coefficients: c, rows: 0..<dst.height)
      return
    }
    let chromaOffset = (y >> s.y) * chromaWidth + (x >> s.x)
    let cb = luma + width * height
    let cr = cb + chromaWidth * chromaHeight
    convertPlanarYUVToRGB(
      luma: origin, lumaRowBytes: width, cb: cb + chromaOffset, cr: cr + chromaOffset, chromaRowBytes: chromaWidth,
      chromaShiftX: s.x, chromaShiftY: s.y, to: dst, coefficients: c, rows: 0..<dst.height)
  }

  /// Converts planar float RGB to one frame payload (mono keeps only Y').
  public func convertFromRGB(_ src: PlanarRGB, to frame: UnsafeMutableRawBufferPointer, matrix: YCbCrMatrix) {
    precondition(frame.count >= frameByteCount && src.width == width && src.height == height)
    let c = YCbCrCoefficients(matrix, range)
    let y = frame.baseAddress!.assumingMemoryBound(to: UInt8.self)
    let s = colorSpace.chromaShift ?? (0, 0)
    if colorSpace.chromaShift == nil {
      // Encode with throw-away chroma rows: write 4:4:4 chroma into a small rolling scratch.
      let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 2 * width)
      defer { scratch.deallocate() }
      for row in 0..<height {
        convertRGBToPlanarYUV(
          PlanarRGB(
            base: src.row(0, row), width: width, height: 1, rowStride: src.rowStride, planeStride: src.planeStride),
          luma: y + row * width, lumaRowBytes: width, cb: scratch, cr: scratch + width, chromaRowBytes: width,
          chromaShiftX: 0, chromaShiftY: 0, coefficients: c, rows: 0..<1)
      }
      return
    }
    let cb = y + width * height
    let cr = cb + chromaWidth * chromaHeight
    convertRGBToPlanarYUV(
      src, luma: y, lumaRowBytes: width, cb: cb, cr: cr, chromaRowBytes: chromaWidth, chromaShiftX: s.x,
      chromaShiftY: s.y, coefficients: c, rows: 0..<height)
  }
}
