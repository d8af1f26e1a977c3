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
  /// In a tiled run: tiles of the current window done, and tiles per window (1 when untiled).
  public var tilesDone = 1
  public var tiles = 1
}

/// Whether a clip runs on spatial tiles (`TilePlan`).
public enum TileChoice: Sendable, Equatable {
  /// Only when a whole frame does not fit under the memory cap (`MemoryLimit`), with the
  /// largest tiles that do.
  case auto
  /// Never: a frame that does not fit is an error.
  case off
  /// Always, with cores of this many LR pixels (a multiple of 4).
  case core(Int)
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
  /// The spatial tiles a window runs on, or nil when the network sees whole frames.
  public let tilePlan: TilePlan?
  /// Bytes every allocation of this clip needs beside the network's weights: frame buffers,
  /// the arena (of a whole frame, or of the largest tile) and a tiled window's outputs when
  /// they are held in memory.
  public let plannedBytes: Int
  /// Whether a tiled window's outputs go to a temporary file (they do not fit in memory).
  public let spillsOutputs: Bool
  /// The last `windowSize` decoded frames, frame k in slot k % windowSize.
  private let ring: UnsafeMutablePointer<Float>
  /// The network's input and output: a whole window, or one tile of it.
  private let windowInput: UnsafeMutablePointer<Float>
  private let windowOutput: UnsafeMutablePointer<Float>
  private let bufferBytes: [Int]
  /// The shape the network is planned for: input frames, height, width.
  private var planned = (frames: 0, height: 0, width: 0)

  /// Allocates the frame buffers of a window (through `MemoryLimit`: sizes are computed with
  /// checked arithmetic and compared with the cap first, so a window too large is an error
  /// naming the bytes it needs). With `tiling` `.auto`, a frame whose window does not fit
  /// under the cap runs on the largest spatial tiles that do (`TilePlan`; `halo` overrides
  /// `TilePlan.halo(for:)`); what does not fit even in the smallest tiles is an error.
  public init(
    network: ZSMNetwork, windowSize: Int, width: Int, height: Int, decode: YCbCrMatrix, encode: YCbCrMatrix,
    tiling: TileChoice = .auto, halo: Int? = nil
  ) throws(PipelineError) {
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
    let sizes: BufferSizes
    let plan: TilePlan?
    let spill: Bool
    (sizes, plan, spill) = try ClipUpscaler.layout(
      network: network, windowSize: windowSize, width: width, height: height, tiling: tiling,
      halo: halo ?? TilePlan.halo(for: network.config))
    tilePlan = plan
    spillsOutputs = spill
    plannedBytes = sizes.total
    let what =
      "the frame buffers of a window of \(windowSize) frames of \(width)x\(height)"
      + (plan.map { " in tiles of \($0.core) pixels" } ?? "")
    var buffers: [UnsafeMutableRawPointer] = []
    let bytes = [sizes.ring, sizes.input, sizes.output]
    do {
      try MemoryLimit.check(bytes.reduce(0, +), for: what)
      for b in bytes { buffers.append(try MemoryLimit.allocate(byteCount: b, for: what)) }
    } catch {
      for (buffer, b) in zip(buffers, bytes) { MemoryLimit.deallocate(buffer, byteCount: b) }
      throw PipelineError(error.description)
    }
    ring = buffers[0].assumingMemoryBound(to: Float.self)
    windowInput = buffers[1].assumingMemoryBound(to: Float.self)
    windowOutput = buffers[2].assumingMemoryBound(to: Float.self)
    bufferBytes = bytes
  }

  deinit {
    store = nil
    MemoryLimit.deallocate(ring, byteCount: bufferBytes[0])
    MemoryLimit.deallocate(windowInput, byteCount: bufferBytes[1])
    MemoryLimit.deallocate(windowOutput, byteCount: bufferBytes[2])
  }

  /// What a run of `windowSize` frames of `width x height` would allocate and how it would
  /// tile, without allocating (for `zsm inspect`).
  public static func memoryPlan(
    network: ZSMNetwork, windowSize: Int, width: Int, height: Int, tiling: TileChoice = .auto, halo: Int? = nil
  ) throws(PipelineError) -> (tiles: TilePlan?, bytes: Int, spillsOutputs: Bool) {
    let (sizes, plan, spill) = try layout(
      network: network, windowSize: windowSize, width: width, height: height, tiling: tiling,
      halo: halo ?? TilePlan.halo(for: network.config))
    return (plan, sizes.total, spill)
  }

  /// Where a tiled window's outputs go when they do not fit in memory ($TMPDIR or /var/tmp).
  public static var spillDirectory: String { WindowFrameStore.spillDirectory() }

  /// Bytes a run needs: the ring of decoded frames, the network's input and output (a window
  /// or a tile of it), its arena, and a tiled window's encoded outputs when held in memory.
  struct BufferSizes {
    var ring = 0
    var input = 0
    var output = 0
    var arena = 0
    var store = 0
    var total: Int { ring + input + output + arena + store }
  }

  /// The buffers of a window of `windowSize` frames of `width x height` and, when it must be
  /// tiled, the tiles and whether their outputs spill to a file.
  static func layout(
    network: ZSMNetwork, windowSize n: Int, width: Int, height: Int, tiling: TileChoice, halo: Int
  ) throws(PipelineError) -> (BufferSizes, TilePlan?, Bool) {
    let floats = MemoryLayout<Float>.stride
    func product(_ factors: Int...) throws(PipelineError) -> Int {
      var p = 1
      for f in factors {
        let (r, o) = p.multipliedReportingOverflow(by: f)
        if o { throw PipelineError("a window of \(n) frames of \(width)x\(height) is too large") }
        p = r
      }
      return p
    }
    func arena(_ h: Int, _ w: Int) throws(PipelineError) -> Int {
      do { return try network.arenaBytes(frames: n, height: h, width: w) } catch {
        throw PipelineError(error.description)
      }
    }
    /// The buffers when the network sees `h x w` at a time (a whole frame, or the largest
    /// region of a tile); `store` for a tiled window's outputs held in memory (4:4:4 bound).
    /// Untiled, the ring holds decoded frames; tiled, the frames as read (4:4:4 bound, a
    /// quarter of the floats), each tile decoding its region.
    func sizes(_ h: Int, _ w: Int, tiled: Bool, store: Bool) throws(PipelineError) -> BufferSizes {
      var s = BufferSizes()
      s.ring = try product(n, 3, width, height, tiled ? 1 : floats)
      s.input = try product(n, 3, w, h, floats)
      s.output = try product(2 * n - 1, 48, w, h, floats)
      s.arena = try arena(h, w)
      s.store = store ? try product(2 * n - 1, 48, width, height) : 0
      return s
    }
    // What the network holds now is given back first: it is planned again for this clip.
    network.releaseArena()
    let budget = max(0, MemoryLimit.bytes - MemoryLimit.bytesInUse)
    func tiled(core: Int) throws(PipelineError) -> (BufferSizes, TilePlan, Bool) {
      let plan = TilePlan(width: width, height: height, core: core, halo: halo)
      let largest = plan.largestRegion
      var s = try sizes(largest.height, largest.width, tiled: true, store: true)
      let spill = s.total > budget
      if spill { s.store = 0 }
      return (s, plan, spill)
    }
    switch tiling {
    case .off:
      return (try sizes(height, width, tiled: false, store: false), nil, false)
    case .core(let core):
      guard core >= 4, core % 4 == 0 else {
        throw PipelineError("a tile core must be a positive multiple of 4, got \(core)")
      }
      return try tiled(core: core)
    case .auto:
      let whole = try sizes(height, width, tiled: false, store: false)
      if whole.total <= budget { return (whole, nil, false) }
      // The largest core (a multiple of 4) whose buffers fit: they grow with the core.
      var lo = 0
      var hi = (max(width, height) + 3) / 4
      while lo < hi {
        let mid = (lo + hi + 1) / 2
        if try tiled(core: 4 * mid).0.total <= budget { lo = mid } else { hi = mid - 1 }
      }
      guard lo > 0 else {
        let smallest = try tiled(core: 4).0
        throw PipelineError(
          "a window of \(n) frames of \(width)x\(height) needs \(MemoryLimit.formatted(whole.total)) whole"
            + " and \(MemoryLimit.formatted(smallest.total)) even in the smallest tiles (4 pixels and a"
            + " \(halo)-pixel halo); the memory limit is \(MemoryLimit.formatted(MemoryLimit.bytes))"
            + (MemoryLimit.bytesInUse > 0 ? ", \(MemoryLimit.formatted(MemoryLimit.bytesInUse)) of it in use" : "")
            + " (--max-memory; a shorter --window needs less)")
      }
      return try tiled(core: 4 * lo)
    }
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
  /// clip needs two. A clip that ends after one frame is an error, unless a stop request ended
  /// it or `dropsLoneFrame` is set (a daemon, whose clips a reload or a source that goes away
  /// can cut anywhere): that frame then gets no outputs and is counted in `framesDropped`.
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
      let t0 = monotonicSeconds()
      if let tilePlan {
        try runTiles(
          tilePlan, first: first, count: count, emit: emit, decodeHeader: reader.header, encodeHeader: encodeHeader,
          yuvOut: yuvOut,
          write: write
        ) { done in
          var p = UpscaleProgress(
            framesRead: read, framesWritten: written, elapsed: monotonicSeconds() - start,
            windowSeconds: monotonicSeconds() - t0)
          p.tilesDone = done
          p.tiles = tilePlan.tiles.count
          progress(p)
        }
        networkSeconds += tileNetworkSeconds
        written += emit.count
      } else {
        try plan(frames: count, height: height, width: width)
        for i in 0..<count {
          (windowInput + i * frameFloats).update(
            from: ring + ((first + i) % windowSize) * frameFloats, count: frameFloats)
        }
        network.run(input: windowInput, output: windowOutput)
        networkSeconds += monotonicSeconds() - t0
        let outFrame = 16 * frameFloats
        for index in emit {
          let rgb = PlanarRGB(
            base: windowOutput + (index - 2 * first) * outFrame, width: 4 * width, height: 4 * height,
            rowStride: 4 * width, planeStride: 16 * width * height)
          encodeHeader.convertFromRGB(rgb, to: yuvOut, matrix: encodeMatrix)
          try write(UnsafeRawBufferPointer(yuvOut))
          written += 1
        }
      }
      windows += 1
      let now = monotonicSeconds()
      progress(
        UpscaleProgress(framesRead: read, framesWritten: written, elapsed: now - start, windowSeconds: now - t0))
    }

    // A stream that ends inside a frame: the frames before it still get all their outputs
    // (the tail window below), then the error is reported.
    var truncation: Y4MError?
    var stopped = false
    while produced < endOutput {
      do {
        guard try reader.readFrame(into: yuvIn) != nil else { break }
      } catch {
        guard case .truncatedFrame = error, read >= 2 else { throw error }
        truncation = error
        break
      }
      if tilePlan != nil {
        // Tiles decode their regions from the frames as read.
        (UnsafeMutableRawPointer(ring) + (read % windowSize) * frameFloats).copyMemory(
          from: yuvIn.baseAddress!, byteCount: yuvIn.count)
      } else {
        let slot = PlanarRGB(
          base: ring + (read % windowSize) * frameFloats, width: width, height: height, rowStride: width,
          planeStride: width * height)
        reader.header.convertToRGB(UnsafeRawBufferPointer(yuvIn), to: slot, matrix: decodeMatrix)
      }
      read += 1
      if read == nextStart + windowSize {
        try runWindow(first: nextStart, count: windowSize)
        nextStart += windowSize - 1
      }
      if shouldStop() && read >= 2 {
        stopped = true
        break
      }
    }
    // End of the stream (or of the range): the tail window aligned to the end.
    // Fewer than 2 frames (a header and nothing else, say) make no window: an error, not an
    // empty success.
    // (A stop request may have ended the last read rather than come after a frame: ask again.)
    if !stopped && shouldStop() { stopped = true }
    if read == 1 && (dropsLoneFrame || stopped) && truncation == nil {
      return UpscaleSummary(
        framesRead: 1, framesWritten: 0, windows: 0, seconds: monotonicSeconds() - start, networkSeconds: 0,
        framesDropped: 1)
    }
    if read < 2 && frames.lowerBound == 0 && truncation == nil && !stopped {
      throw PipelineError("the input has \(read) frame(s); at least 2 are needed")
    }
    if produced < min(endOutput, 2 * read - 1) {
      guard read >= 2 else {
        // Stopped by the caller (a daemon's SIGTERM or SIGHUP) after one frame of a clip: no
        // window can be made of it, which is no error.
        if stopped {
          return UpscaleSummary(
            framesRead: read, framesWritten: written, windows: windows, seconds: monotonicSeconds() - start,
            networkSeconds: networkSeconds)
        }
        throw PipelineError("the input has \(read) frame(s); at least 2 are needed")
      }
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

  /// Plans the network for `frames` frames of `width x height` unless it already is.
  private func plan(frames: Int, height: Int, width: Int) throws {
    guard planned != (frames, height, width) else { return }
    planned = (0, 0, 0)
    try network.prepare(frames: frames, height: height, width: width)
    planned = (frames, height, width)
  }

  /// Network seconds of the last `runTiles`.
  private var tileNetworkSeconds = 0.0
  /// A tiled window's encoded outputs (made on the first tiled window of a run).
  private var store: WindowFrameStore?

  /// One window on the tiles of `plan`: each tile's region of the `count` frames from `first`
  /// runs through the network, the outputs `emit` of its core are encoded into the window's
  /// store, and when every tile is done the frames are written in order.
  private func runTiles(
    _ plan: TilePlan, first: Int, count: Int, emit: Range<Int>, decodeHeader: Y4MHeader, encodeHeader: Y4MHeader,
    yuvOut: UnsafeMutableRawBufferPointer, write: (UnsafeRawBufferPointer) throws -> Void,
    tileDone: (Int) -> Void
  ) throws {
    if store == nil || store!.header != encodeHeader {
      store = nil
      store = try WindowFrameStore(
        frames: 2 * windowSize - 1, header: encodeHeader, spill: spillsOutputs, tileCore: plan.core)
    }
    let store = store!
    tileNetworkSeconds = 0
    let scratch = store.tileScratch
    for (done, tile) in plan.tiles.enumerated() {
      let r = tile.region
      try self.plan(frames: count, height: r.height, width: r.width)
      let regionFloats = r.width * r.height
      for i in 0..<count {
        // Slot k holds frame k as read, in 3 * width * height bytes (a quarter of its floats).
        let frame = UnsafeRawBufferPointer(
          start: UnsafeRawPointer(ring) + ((first + i) % windowSize) * 3 * width * height,
          count: decodeHeader.frameByteCount)
        let rgb = PlanarRGB(
          base: windowInput + i * 3 * regionFloats, width: r.width, height: r.height, rowStride: r.width,
          planeStride: regionFloats)
        decodeHeader.convertToRGB(frame, to: rgb, matrix: decodeMatrix, x: r.x, y: r.y)
      }
      let t0 = monotonicSeconds()
      network.run(input: windowInput, output: windowOutput)
      tileNetworkSeconds += monotonicSeconds() - t0
      var tileHeader = encodeHeader
      tileHeader.width = 4 * tile.core.width
      tileHeader.height = 4 * tile.core.height
      let outFrame = 48 * regionFloats
      for index in emit {
        let rgb = PlanarRGB(
          base: windowOutput + (index - 2 * first) * outFrame + 4 * (tile.core.y - r.y) * 4 * r.width
            + 4 * (tile.core.x - r.x),
          width: 4 * tile.core.width, height: 4 * tile.core.height, rowStride: 4 * r.width,
          planeStride: 16 * regionFloats)
        tileHeader.convertFromRGB(rgb, to: scratch, matrix: encodeMatrix)
        try store.put(
          UnsafeRawBufferPointer(scratch), tileHeader: tileHeader, frame: index - emit.lowerBound,
          x: 4 * tile.core.x, y: 4 * tile.core.y)
      }
      tileDone(done + 1)
    }
    for index in emit {
      try write(try store.frame(index - emit.lowerBound, using: yuvOut))
    }
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
  // The network sees whole progressive frames; fields woven into one frame would be upscaled
  // and interpolated as if they were one instant, combing every motion.
  if input.interlacing == "t" || input.interlacing == "b" || input.interlacing == "m" {
    let kind = ["t": "top field first", "b": "bottom field first", "m": "mixed"][input.interlacing]!
    throw PipelineError(
      "the input is interlaced (I\(input.interlacing), \(kind)); deinterlace it first, e.g. "
        + "ffmpeg -i IN -vf bwdif -f yuv4mpegpipe -pix_fmt yuv420p - | zsm upscale -i - ...")
  }
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
