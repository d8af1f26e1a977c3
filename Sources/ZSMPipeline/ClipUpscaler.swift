import ZSMKernels
import ZSMModel
import ZSMRuntime
import ZSMVideo

/// Progress of a clip, reported after each window.
public struct UpscaleProgress: Sendable {
  /// Input frames read so far.
  public let framesRead: Int
  /// Output frames written so far.
  public let framesWritten: Int
  /// Seconds since the start.
  public let elapsed: Double
  /// Wall time of the window just finished (0 for a window whose outputs were all skipped).
  public let windowSeconds: Double
}

/// What a finished clip took.
public struct UpscaleSummary: Sendable {
  public let framesRead: Int
  public let framesWritten: Int
  public let windows: Int
  public let seconds: Double
  public let networkSeconds: Double
  /// Input frames read but given no output: a clip of one frame, with `dropsLoneFrame`.
  public var framesDropped = 0
}

/// Upscales a Y4M stream window by window: decode to planar RGB, run the network on windows of
/// N frames that share one frame (`WindowPlan`'s rule, found while streaming: a window runs as
/// soon as its last frame is read, and at the end of the stream a last window aligned to the
/// end produces the outputs still missing), encode every output frame exactly once.
public final class ClipUpscaler {
  public let network: ZSMNetwork
  public let windowSize: Int
  let width: Int
  let height: Int
  let decodeMatrix: YCbCrMatrix
  let encodeMatrix: YCbCrMatrix
  /// The last `windowSize` decoded frames, frame k in slot k % windowSize.
  private let ring: UnsafeMutablePointer<Float>
  private let windowInput: UnsafeMutablePointer<Float>
  private let windowOutput: UnsafeMutablePointer<Float>
  private var planned = 0

  /// Allocates the frame buffers of a window (through `MemoryLimit`: sizes are computed with
  /// checked arithmetic and compared with the cap first, so a window too large is an error
  /// naming the bytes it needs).
  public init(network: ZSMNetwork, windowSize: Int, width: Int, height: Int, decode: YCbCrMatrix, encode: YCbCrMatrix)
    throws(PipelineError)
  {
    guard (2...Limits.maximumWindow).contains(windowSize) else {
      throw PipelineError("a window has 2...\(Limits.maximumWindow) input frames, got \(windowSize)")
    }
    guard (1...Limits.maximumFrameDimension).contains(width), (1...Limits.maximumFrameDimension).contains(height)
    else {
      throw PipelineError(
        "frame size \(width)x\(height): width and height must be 1...\(Limits.maximumFrameDimension)"
          + " (4x that is the largest Y4M frame)")
    }
    self.network = network
    self.windowSize = windowSize
    self.width = width
    self.height = height
    decodeMatrix = decode
    encodeMatrix = encode
    // Within the limits above none of this overflows; it is checked all the same.
    let floats = MemoryLayout<Float>.stride
    func product(_ factors: Int...) throws(PipelineError) -> Int {
      var p = 1
      for f in factors {
        let (r, o) = p.multipliedReportingOverflow(by: f)
        if o { throw PipelineError("a window of \(windowSize) frames of \(width)x\(height) is too large") }
        p = r
      }
      return p
    }
    let frameBytes = try product(3, width, height, floats)
    let ringBytes = try product(windowSize, frameBytes)
    let outputBytes = try product(2 * windowSize - 1, 16, frameBytes)
    let what = "the frame buffers of a window of \(windowSize) frames of \(width)x\(height)"
    var buffers: [UnsafeMutableRawPointer] = []
    do {
      try MemoryLimit.check(2 * ringBytes + outputBytes, for: what)
      for bytes in [ringBytes, ringBytes, outputBytes] {
        buffers.append(try MemoryLimit.allocate(byteCount: bytes, for: what))
      }
    } catch {
      for (buffer, bytes) in zip(buffers, [ringBytes, ringBytes]) { MemoryLimit.deallocate(buffer, byteCount: bytes) }
      throw PipelineError(error.description)
    }
    ring = buffers[0].assumingMemoryBound(to: Float.self)
    windowInput = buffers[1].assumingMemoryBound(to: Float.self)
    windowOutput = buffers[2].assumingMemoryBound(to: Float.self)
    ringBytes_ = ringBytes
    outputBytes_ = outputBytes
  }

  private let ringBytes_: Int
  private let outputBytes_: Int

  deinit {
    MemoryLimit.deallocate(ring, byteCount: ringBytes_)
    MemoryLimit.deallocate(windowInput, byteCount: ringBytes_)
    MemoryLimit.deallocate(windowOutput, byteCount: outputBytes_)
  }

  /// Reads `reader` to its end (or until input frame `frames.upperBound` is no longer needed)
  /// and writes the outputs of input frames `frames` (output indices 2A ..< 2B, or to the end).
  public func run(
    reader: Y4MReader, writer: Y4MWriter, frames: Range<Int> = 0..<Int.max,
    progress: (UpscaleProgress) -> Void = { _ in }
  ) throws -> UpscaleSummary {
    let outputBytes = writer.header.frameByteCount
    return try run(
      reader: reader, outputFrameBytes: outputBytes, encodeHeader: writer.header, frames: frames,
      write: { frame in try writer.writeFrame(frame) }, progress: progress)
  }

  /// The general form: every encoded output frame goes to `write`; `shouldStop` is asked after
  /// each input frame, and when it says yes the clip ends there (the frames read so far still
  /// get all their outputs, through a last window aligned to them), from the second frame on: a
  /// clip needs two. A clip that ends after one frame is an error, or with `dropsLoneFrame` (a
  /// daemon, whose clips a reload or a source that goes away can cut anywhere) that frame is
  /// counted in `framesDropped`.
  public func run(
    reader: Y4MReader, outputFrameBytes: Int, encodeHeader: Y4MHeader, frames: Range<Int> = 0..<Int.max,
    write: (UnsafeRawBufferPointer) throws -> Void, shouldStop: () -> Bool = { false }, dropsLoneFrame: Bool = false,
    progress: (UpscaleProgress) -> Void = { _ in }
  ) throws -> UpscaleSummary {
    let start = monotonicSeconds()
    let frameFloats = 3 * width * height
    let yuvIn = UnsafeMutableRawBufferPointer.allocate(byteCount: reader.frameByteCount, alignment: 64)
    let yuvOut = UnsafeMutableRawBufferPointer.allocate(byteCount: outputFrameBytes, alignment: 64)
    defer {
      yuvIn.deallocate()
      yuvOut.deallocate()
    }
    // Output indices of the range (2A ..< 2B); a bound past what doubling can hold is the end.
    let firstOutput = frames.lowerBound.multipliedReportingOverflow(by: 2)
    guard !firstOutput.overflow else {
      throw PipelineError("--frames starts at input frame \(frames.lowerBound), past any clip")
    }
    let endOutput = frames.upperBound >= Int.max / 2 ? Int.max : 2 * frames.upperBound
    var read = 0
    var produced = 0  // outputs 0 ..< produced are done (by this run or skipped as outside the range)
    var nextStart = 0
    var windows = 0
    var networkSeconds = 0.0
    var written = 0

    func runWindow(first: Int, count: Int) throws {
      let lastOutput = 2 * (first + count - 1)
      defer { produced = lastOutput + 1 }
      // This window's outputs not produced yet, within the requested range.
      let lower = max(produced, 2 * first, firstOutput.partialValue)
      let upper = min(lastOutput + 1, endOutput)
      guard lower < upper else { return }
      let emit = lower..<upper
      if planned != count {
        try network.prepare(frames: count, height: height, width: width)
        planned = count
      }
      for i in 0..<count {
        (windowInput + i * frameFloats).update(
          from: ring + ((first + i) % windowSize) * frameFloats, count: frameFloats)
      }
      let t0 = monotonicSeconds()
      network.run(input: windowInput, output: windowOutput)
      networkSeconds += monotonicSeconds() - t0
      windows += 1
      let outFrame = 16 * frameFloats
      for index in emit {
        let rgb = PlanarRGB(
          base: windowOutput + (index - 2 * first) * outFrame, width: 4 * width, height: 4 * height,
          rowStride: 4 * width, planeStride: 16 * width * height)
        encodeHeader.convertFromRGB(rgb, to: yuvOut, matrix: encodeMatrix)
        try write(UnsafeRawBufferPointer(yuvOut))
        written += 1
      }
      let now = monotonicSeconds()
      progress(
        UpscaleProgress(framesRead: read, framesWritten: written, elapsed: now - start, windowSeconds: now - t0))
    }

    // A stream that ends inside a frame: the frames before it still get all their outputs
    // (the tail window below), then the error is reported.
    var truncation: Y4MError?
    while produced < endOutput {
      do {
        guard try reader.readFrame(into: yuvIn) != nil else { break }
      } catch {
        guard case .truncatedFrame = error, read >= 2 else { throw error }
        truncation = error
        break
      }
      let slot = PlanarRGB(
        base: ring + (read % windowSize) * frameFloats, width: width, height: height, rowStride: width,
        planeStride: width * height)
      reader.header.convertToRGB(UnsafeRawBufferPointer(yuvIn), to: slot, matrix: decodeMatrix)
      read += 1
      if read == nextStart + windowSize {
        try runWindow(first: nextStart, count: windowSize)
        nextStart += windowSize - 1
      }
      if shouldStop() && read >= 2 { break }
    }
    if read == 1 && dropsLoneFrame {
      return UpscaleSummary(
        framesRead: 1, framesWritten: 0, windows: 0, seconds: monotonicSeconds() - start, networkSeconds: 0,
        framesDropped: 1)
    }
    // End of the stream (or of the range): the tail window aligned to the end.
    if produced < min(endOutput, 2 * read - 1) {
      guard read >= 2 else { throw PipelineError("the input has \(read) frame(s); at least 2 are needed") }
      let count = min(windowSize, read)
      try runWindow(first: read - count, count: count)
    }
    if let truncation { throw truncation }
    if frames.lowerBound > 0 && 2 * read - 1 <= firstOutput.partialValue {
      throw PipelineError("--frames starts at input frame \(frames.lowerBound), but the input has \(read) frames")
    }
    return UpscaleSummary(
      framesRead: read, framesWritten: written, windows: windows,
      seconds: monotonicSeconds() - start, networkSeconds: networkSeconds)
  }
}

/// The header of the upscaled stream of `input`: 4x the size, progressive, twice the frame rate
/// (the same rate with `slowmo`). Sizes whose 4x no Y4M stream may have, and frame rates that
/// cannot be doubled exactly within the header's limit, are errors (never a trap).
public func upscaledHeader(of input: Y4MHeader, slowmo: Bool) throws(PipelineError) -> Y4MHeader {
  var out = input
  guard input.width <= Limits.maximumFrameDimension, input.height <= Limits.maximumFrameDimension else {
    throw PipelineError(
      "frame size \(input.width)x\(input.height): width and height must be at most "
        + "\(Limits.maximumFrameDimension), since the output is 4x and Y4M frames are at most "
        + "\(Y4MHeader.maximumDimension) pixels wide and high")
  }
  out.width = 4 * input.width
  out.height = 4 * input.height
  out.interlacing = "p"
  if !slowmo {
    let (n, d) = input.frameRate
    if n <= Y4MHeader.maximumRateTerm / 2 {
      out.frameRate = (2 * n, d)
    } else if d % 2 == 0 {
      out.frameRate = (n, d / 2)
    } else {
      throw PipelineError("frame rate \(n):\(d) is too high to double (use slow motion to keep it)")
    }
  }
  return out
}

/// A problem of the pipeline that is not a file's or a device's.
public struct PipelineError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
