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

  public init(network: ZSMNetwork, windowSize: Int, width: Int, height: Int, decode: YCbCrMatrix, encode: YCbCrMatrix) {
    precondition(windowSize >= 2)
    self.network = network
    self.windowSize = windowSize
    self.width = width
    self.height = height
    decodeMatrix = decode
    encodeMatrix = encode
    let frame = 3 * width * height
    ring = .allocate(capacity: windowSize * frame)
    windowInput = .allocate(capacity: windowSize * frame)
    windowOutput = .allocate(capacity: (2 * windowSize - 1) * 16 * frame)
  }

  deinit {
    ring.deallocate()
    windowInput.deallocate()
    windowOutput.deallocate()
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
  /// get all their outputs, through a last window aligned to them).
  public func run(
    reader: Y4MReader, outputFrameBytes: Int, encodeHeader: Y4MHeader, frames: Range<Int> = 0..<Int.max,
    write: (UnsafeRawBufferPointer) throws -> Void, shouldStop: () -> Bool = { false },
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
    let firstOutput = 2 * frames.lowerBound
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
      let lower = max(produced, 2 * first, firstOutput)
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

    while produced < endOutput {
      guard try reader.readFrame(into: yuvIn) != nil else { break }
      let slot = PlanarRGB(
        base: ring + (read % windowSize) * frameFloats, width: width, height: height, rowStride: width,
        planeStride: width * height)
      reader.header.convertToRGB(UnsafeRawBufferPointer(yuvIn), to: slot, matrix: decodeMatrix)
      read += 1
      if read == nextStart + windowSize {
        try runWindow(first: nextStart, count: windowSize)
        nextStart += windowSize - 1
      }
      if shouldStop() { break }
    }
    // End of the stream (or of the range): the tail window aligned to the end.
    if produced < min(endOutput, 2 * read - 1) {
      guard read >= 2 else { throw PipelineError("the input has \(read) frame(s); at least 2 are needed") }
      let count = min(windowSize, read)
      try runWindow(first: read - count, count: count)
    }
    if frames.lowerBound > 0 && 2 * read - 1 <= firstOutput {
      throw PipelineError("--frames starts at input frame \(frames.lowerBound), but the input has \(read) frames")
    }
    return UpscaleSummary(
      framesRead: read, framesWritten: written, windows: windows,
      seconds: monotonicSeconds() - start, networkSeconds: networkSeconds)
  }
}

/// A problem of the pipeline that is not a file's or a device's.
public struct PipelineError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
