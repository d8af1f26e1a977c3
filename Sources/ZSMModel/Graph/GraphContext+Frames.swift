import ZSMKernels
import ZSMRuntime

/// The convolutions of the 4x tail.
struct TailLayers {
  let upconv2: Conv2D
  let hrConv: Conv2D
  let convLast: Conv2D
}

/// ZSM-Lite's global skip for one output frame: the x4 bicubic of input frame `first` (planar
/// `[3][frameHeight][frameWidth]`, unpadded), or of the mean of `first` and `second` at an
/// interpolated position; `rows` holds one source row per worker. The frames are nil while
/// planning.
struct GlobalSkip {
  let first: UnsafePointer<Float>?
  let second: UnsafePointer<Float>?
  let frameHeight: Int
  let frameWidth: Int
  let rows: PlannedTensor
}

/// Band buffers of the 4x tail (see `GraphContext.tailBand`).
struct TailBands {
  let up2: PlannedTensor
  let ps2: PlannedTensor
  let hr: PlannedTensor
  let rgb: PlannedTensor
}

extension GraphContext {
  /// Copies one `[3][h][w]` frame into `t` (padded size), zeroing the padding.
  func loadFrame(_ source: UnsafePointer<Float>?, height h: Int, width w: Int, into t: PlannedTensor) {
    use(t)
    if isRunning, let source {
      let m = map(t)
      for y in 0..<m.height {
        for x in 0..<m.width {
          let p = m.pixel(y, x)
          if y < h && x < w {
            for c in 0..<3 { p[c] = source[(c * h + y) * w + x] }
          } else {
            for c in 0..<3 { p[c] = 0 }
          }
        }
      }
    }
    advance()
  }

  /// Copies `t` out as `[C][H][W]` when a destination is given (golden tests).
  func capture(_ t: PlannedTensor, into destination: UnsafeMutablePointer<Float>?) {
    guard let destination else { return }
    use(t)
    if isRunning { copyToNCHW(anyMap(t), destination) }
    advance()
  }

  /// Rows `rows` of `conv(input)` into a band buffer, then pixel shuffle (x2, LeakyReLU) of those
  /// rows into `output`: conv + shuffle without the conv's full output.
  func convShuffleBand(
    _ layer: Conv2D, input: PlannedTensor, band: PlannedTensor, output: PlannedTensor, rows: Range<Int>
  )
    throws(ShapeError)
  {
    use(input)
    use(band)
    use(output)
    defer { advance() }
    guard isRunning else {
      let i = view(input)
      let o = view(output)
      guard layer.inputChannels == i.channels, layer.outputChannels == 4 * o.channels,
        view(band).channels == layer.outputChannels, view(band).height >= rows.count,
        o.height == 2 * i.height, o.width == 2 * i.width, view(band).width == i.width
      else { throw ShapeError("conv \(layer.name) + pixel shuffle: \(i.descriptor) cannot become \(o.descriptor)") }
      countMACs(rows.count * i.width * layer.outputChannels * layer.inputChannels * 9)
      planConv(layer, input: input, output: band)
      return
    }
    let full = shifted(anyMap(band), firstRow: rows.lowerBound, height: anyMap(input).height)
    runConv(layer, input: anyMap(input), output: full, residual: nil, rows: rows)
    PixelShuffle2x(input: full, output: anyMap(output), leaky: true).run(pool: pool, rows: rows)
  }

  /// One band of 4x output rows `rows` of the reconstruction tail, computed through band
  /// buffers so the 4x maps never exist whole:
  ///
  ///     upconv2 (2x rows rows/2 ± 1) -> shuffle + LeakyReLU (4x rows ± 2)
  ///       -> HRconv + LeakyReLU (± 1) -> conv_last (the band) -> RGB rows of `frame`
  ///
  /// Each band buffer is addressed with global row numbers (its base is shifted by the band's
  /// first row), so the convolutions read their neighbours' rows where they are; rows outside
  /// the image are zeroed, as the convolutions' zero padding requires.
  func tailBand(
    _ layers: TailLayers, ps1: PlannedTensor, bands: TailBands, rows: Range<Int>, fullHeight: Int,
    frame: UnsafeMutablePointer<Float>?, cropHeight: Int, cropWidth: Int, skip: GlobalSkip? = nil
  ) throws(ShapeError) {
    use(ps1)
    use(bands.up2)
    use(bands.ps2)
    use(bands.hr)
    use(bands.rgb)
    if let skip { use(skip.rows) }
    defer { advance() }
    guard isRunning else {
      let x2 = view(ps1)
      let width4x = view(bands.ps2).width
      let bandRows = rows.count
      let tw = layers.hrConv.inputChannels
      countMACs(bandRows / 2 * width4x / 2 * layers.upconv2.outputChannels * x2.channels * 9)
      countMACs(bandRows * width4x * tw * tw * 9 + bandRows * width4x * 3 * tw * 9)
      guard x2.channels == layers.upconv2.inputChannels, layers.upconv2.outputChannels == 4 * tw,
        layers.hrConv.outputChannels == tw, layers.convLast.inputChannels == tw,
        view(bands.ps2).channels == tw, view(bands.rgb).channels == layers.convLast.outputChannels
      else { throw ShapeError("reconstruction tail: channel counts do not chain") }
      if let skip {
        guard layers.convLast.outputChannels == 3, 4 * skip.frameHeight == cropHeight,
          4 * skip.frameWidth == cropWidth,
          view(skip.rows).channels >= (skip.frameWidth + 15) / 16 * 16 * pool.threadCount
        else { throw ShapeError("global skip: \(skip.frameWidth)x\(skip.frameHeight) does not match the output") }
      }
      planConv(layers.upconv2, input: ps1, output: bands.up2)
      planConv(layers.hrConv, input: bands.ps2, output: bands.hr)
      planConv(layers.convLast, input: bands.hr, output: bands.rgb)
      return
    }
    let r0 = rows.lowerBound
    let r1 = rows.upperBound
    let halfHeight = fullHeight / 2
    // upconv2 at 2x rows [r0/2 - 1, r1/2 + 1).
    let up2 = shifted(anyMap(bands.up2), firstRow: r0 / 2 - 1, height: halfHeight)
    let halfRows = max(0, r0 / 2 - 1)..<min(halfHeight, r1 / 2 + 1)
    runConv(layers.upconv2, input: anyMap(ps1), output: up2, residual: nil, rows: halfRows)
    // Shuffle to 4x rows [r0 - 2, r1 + 2), zero outside the image.
    let ps2 = shifted(anyMap(bands.ps2), firstRow: r0 - 2, height: fullHeight)
    PixelShuffle2x(input: up2, output: ps2, leaky: true).run(pool: pool, rows: halfRows)
    zeroRows(ps2, (r0 - 2)..<(r1 + 2), outside: fullHeight)
    // HRconv at rows [r0 - 1, r1 + 1).
    let hr = shifted(anyMap(bands.hr), firstRow: r0 - 1, height: fullHeight)
    runConv(layers.hrConv, input: ps2, output: hr, residual: nil, rows: max(0, r0 - 1)..<min(fullHeight, r1 + 1))
    zeroRows(hr, (r0 - 1)..<(r1 + 1), outside: fullHeight)
    // conv_last at the band's rows, then out to the frame (cropped).
    let rgb = shifted(anyMap(bands.rgb), firstRow: r0, height: fullHeight).float32
    runConv(layers.convLast, input: hr, output: AnyFeatureMap(rgb), residual: nil, rows: rows)
    if let frame {
      var store = StorePlanes(source: rgb, destination: frame, height: cropHeight, width: cropWidth)
      if let skip, let first = skip.first {
        store.skip = StorePlanes.Skip(
          first: first, second: skip.second, height: skip.frameHeight, width: skip.frameWidth,
          rows: view(skip.rows).storage, rowFloats: (skip.frameWidth + 15) / 16 * 16)
      }
      pool.forEachRowRange(rows: r0..<min(r1, cropHeight), store)
    }
  }

  /// `m` re-addressed so that global row `firstRow` is the buffer's row 0.
  private func shifted(_ m: AnyFeatureMap, firstRow: Int, height: Int) -> AnyFeatureMap {
    var s = m
    s.base = m.base - firstRow * m.rowStride * m.element.byteCount
    s.height = height
    return s
  }

  /// Zeroes the rows of `range` that lie outside `0..<height` (halo columns included).
  private func zeroRows(_ m: AnyFeatureMap, _ range: Range<Int>, outside height: Int) {
    let bytes = m.element.byteCount
    for r in range where r < 0 || r >= height {
      (m.base + (r * m.rowStride - m.pixelStride) * bytes).initializeMemory(
        as: UInt8.self, repeating: 0, count: m.rowStride * bytes)
    }
  }
}

/// Copies rows of a channels-last map into planar `[C][height][width]` (cropping columns), and
/// adds ZSM-Lite's global skip to each row while it is in cache.
struct StorePlanes: RowJob {
  /// The x4 bicubic skip's sources (planar `[3][height][width]`) and per-worker row scratch.
  struct Skip {
    let first: UnsafePointer<Float>
    let second: UnsafePointer<Float>?
    let height: Int
    let width: Int
    let rows: UnsafeMutablePointer<Float>
    let rowFloats: Int
  }

  let source: FeatureMap
  let destination: UnsafeMutablePointer<Float>
  let height: Int
  let width: Int
  var skip: Skip? = nil

  func run(rows: Range<Int>, worker: Int) {
    let plane = height * width
    for y in rows {
      for x in 0..<width {
        let p = source.pixel(y, x)
        for c in 0..<source.channels { destination[c * plane + y * width + x] = p[c] }
      }
      if let skip {
        Bicubic4x.addRow(
          skip.first, skip.second, channels: source.channels, height: skip.height, width: skip.width, row: y,
          into: destination + y * width, planeStride: plane, outputWidth: width,
          scratch: skip.rows + worker * skip.rowFloats)
      }
    }
  }
}
