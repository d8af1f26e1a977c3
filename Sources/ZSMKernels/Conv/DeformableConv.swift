/// Modulated deformable 3x3 convolution (DCNv2) as Zooming Slow-Mo uses it: stride 1, pad 1,
/// dilation 1, `groups` deformable groups, offsets and mask predicted by a separate conv.
///
/// `offsetsAndMask` has `3 * groups * 9` channels, the raw output of the offset conv:
/// - channel `g*18 + 2k` is the row displacement dy, `g*18 + 2k + 1` the column displacement dx
///   of group `g`, tap `k = 3*i + j`;
/// - channel `2*groups*9 + g*9 + k` is the mask logit (the sigmoid is applied here).
/// Tap `(i, j)` of output pixel `(h, w)` samples input channel `c` of group `g = c / (C/groups)`
/// bilinearly at `(h - 1 + i + dy, w - 1 + j + dx)`; each of the 4 corners outside the map reads 0.
///
/// Tile-based: for each tile of up to `tilePixels` output pixels of a row, the masked bilinear
/// samples are gathered into a column buffer `[pixel][tap][channel]` (tilePixels * 9 * C floats,
/// L2-resident) and the same register-blocked micro-kernel as the 3x3 convolution multiplies it
/// with the packed weights. Coordinates and corner weights are computed once per
/// (pixel, group, tap), 16 lanes at a time, and the corners are read as channel vectors.
/// With fewer than 64 lanes (groups x taps) a pixel leaves much of its last block empty (14 of
/// 32 lanes at 2 groups), so the lanes of `chunkPixels` neighbouring pixels are computed
/// together, filling whole blocks (8 pixels of 18 lanes at 2 groups: 9 blocks, not 16); each
/// chunk's offsets and mask logits are first copied apart, one array per quantity (`dy`, `dx`,
/// logit) indexed by chunk lane. Measured (`zsm bench`, 1 thread, medians of 5 runs): the
/// shipped ZSM-Lite's deform3x3-16-16-g2-80x60 0.58 -> 0.44 ms. At 8 groups (72 lanes, 10 blocks) chunks of 2
/// pixels would save 1 block in 10 but were 3% slower (the copy, and blocks that straddle two
/// pixels' copies wait for the stores): there each pixel reads its own parameters.
///
/// Each tap reads a 2x2 window of pixels that lies inside the map: its top-left corner is the
/// bilinear one clamped to `[0, H-2] x [0, W-2]`, and each window row (column) weighs
/// `max(0, 1 - |p - r|)` for its row `r` and the sampling position `p`, which is the bilinear
/// weight of that row, or 0 for the window rows that the clamp moved off the sampled ones. So
/// no corner outside the map is ever read, and the gather needs one address per tap: the
/// others are a pixel and a row step away (0 on a map 1 pixel wide or high).
public enum DeformableConv {
  /// Floats of per-thread scratch `deformConv3x3` needs (with room for a tile of fp32 output
  /// rows, used when the output is stored in another precision).
  public static func scratchCount(inputChannels: Int, groups: Int, tilePixels: Int, outputChannels: Int? = nil)
    -> Int
  {
    let outputRow = tilePixels * ((outputChannels ?? inputChannels) + 63) / 64 * 64
    // Per chunk lane: 4 words of the lane table, 5 of the corner table, 3 of offsets and logit.
    return tilePixels * 9 * inputChannels + 12 * chunkLanes(groups) + outputRow
  }

  /// A good tile: a multiple of both full micro-kernel widths, 110 KB of columns at C = 64.
  public static let defaultTilePixels = 48

  /// Pixels whose (group, tap) lanes are computed together: 1 from 64 lanes up, else the fewest
  /// that fill whole 16-lane blocks (`16 / gcd(9 * groups, 16)`).
  @inline(__always)
  static func chunkPixels(_ groups: Int) -> Int {
    guard groups * 9 < 64 else { return 1 }
    var (a, b) = (groups * 9, 16)
    while b != 0 { (a, b) = (b, a % b) }
    return 16 / a
  }

  /// Lanes of a chunk's tables, in whole blocks of 16.
  @inline(__always)
  static func chunkLanes(_ groups: Int) -> Int { (chunkPixels(groups) * groups * 9 + 15) / 16 * 16 }
}

/// Computes output rows `rows` of the deformable convolution (see `DeformableConv`).
/// `input` needs no halo. `scratch` holds `DeformableConv.scratchCount(...)` floats, one per thread.
public func deformConv3x3(
  input: FeatureMap, offsetsAndMask: FeatureMap, groups: Int, weights: PackedConvWeights, output: FeatureMap,
  epilogue: Epilogue, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>,
  tilePixels: Int = DeformableConv.defaultTilePixels
) {
  deformConvRows(
    input: input, offsetsAndMask: offsetsAndMask, groups: groups, weights: weights, output: output,
    epilogue: epilogue, rows: rows, scratch: scratch, tilePixels: tilePixels)
}

/// `deformConv3x3` with input and output in either precision: fp16 input corners are widened as
/// they are gathered, and fp16 output tiles go through fp32 rows. The offsets stay fp32.
public func deformConv3x3(
  input: AnyFeatureMap, offsetsAndMask: FeatureMap, groups: Int, weights: PackedConvWeights, output: AnyFeatureMap,
  epilogue: Epilogue, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>,
  tilePixels: Int = DeformableConv.defaultTilePixels
) {
  switch (input.element, output.element) {
  case (.float32, .float32):
    deformConvRows(
      input: input.float32, offsetsAndMask: offsetsAndMask, groups: groups, weights: weights,
      output: output.float32, epilogue: epilogue, rows: rows, scratch: scratch, tilePixels: tilePixels)
  case (.float16, .float16):
    deformConvRows(
      input: input.float16, offsetsAndMask: offsetsAndMask, groups: groups, weights: weights,
      output: output.float16, epilogue: epilogue, rows: rows, scratch: scratch, tilePixels: tilePixels)
  case (.float32, .float16):
    deformConvRows(
      input: input.float32, offsetsAndMask: offsetsAndMask, groups: groups, weights: weights,
      output: output.float16, epilogue: epilogue, rows: rows, scratch: scratch, tilePixels: tilePixels)
  case (.float16, .float32):
    deformConvRows(
      input: input.float16, offsetsAndMask: offsetsAndMask, groups: groups, weights: weights,
      output: output.float32, epilogue: epilogue, rows: rows, scratch: scratch, tilePixels: tilePixels)
  }
}

#if arch(arm64)
  /// `deformConv3x3` between fp16 maps in fp16 arithmetic: the bilinear samples are computed in
  /// fp32 and rounded to fp16 columns, which `conv3x3F16Arith`'s tiles multiply with the fp16
  /// weights (its packing: `PackedConvWeightsF16`), each kernel row in fp16 FMAs, the rows added
  /// in fp32. Fast only on CPUs with ARMv8.2 FP16 arithmetic (see ARMReducedPrecision.swift).
  public func deformConv3x3F16Arith(
    input: FeatureMapF16, offsetsAndMask: FeatureMap, groups: Int, weights: PackedConvWeightsF16,
    output: FeatureMapF16, epilogue: Epilogue, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>,
    tilePixels: Int = DeformableConv.defaultTilePixels
  ) {
    deformConvRows(
      input: input, offsetsAndMask: offsetsAndMask, groups: groups, layout: weights.layout, weights: nil,
      halfArithmetic: weights, output: output, epilogue: epilogue, rows: rows, scratch: scratch,
      tilePixels: tilePixels)
  }
#endif

// Inlined into the entry points; the gather and the corner tables are out of line
// (Tests/ARM64/loops.py checks their loops by name).
@inline(__always)
func deformConvRows<I: MapElement, O: MapElement>(
  input: FeatureMapOf<I>, offsetsAndMask: FeatureMap, groups: Int, weights: PackedConvWeights,
  output: FeatureMapOf<O>, epilogue: Epilogue, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>,
  tilePixels: Int
) {
  deformConvRows(
    input: input, offsetsAndMask: offsetsAndMask, groups: groups, layout: weights.layout, weights: weights,
    halfArithmetic: nil, output: output, epilogue: epilogue, rows: rows, scratch: scratch, tilePixels: tilePixels)
}

/// The rows of every entry point: the multiply by `weights` in fp32 (columns of fp32), or, on
/// arm64 with `halfArithmetic` (then `weights` is nil), by those fp16 weights in fp16
/// arithmetic (columns rounded to fp16 as they are gathered; `conv3x3F16Arith`'s tiles).
@inline(__always)
func deformConvRows<I: MapElement, O: MapElement>(
  input: FeatureMapOf<I>, offsetsAndMask: FeatureMap, groups: Int, layout: ConvWeightLayout,
  weights: PackedConvWeights?, halfArithmetic: PackedConvWeightsF16?, output: FeatureMapOf<O>, epilogue: Epilogue,
  rows: Range<Int>, scratch: UnsafeMutablePointer<Float>, tilePixels: Int
) {
  let cin = input.channels
  let groupChannels = cin / groups
  let lanes = groups * 9
  let chunk = DeformableConv.chunkPixels(groups)
  let chunkLanes = DeformableConv.chunkLanes(groups)
  let blocks = chunkLanes / 16
  let columns = scratch
  // Chunk lane L = j * lanes + g * 9 + k (pixel j of the chunk, group g, tap k) sits in block
  // L / 16, slot L % 16. Two block-major tables, so that one pointer and constant displacements
  // reach every entry of a lane (a table per quantity needed a register each, and the gather
  // loop spilled):
  // - per call, 64 words a block: tap row, tap column plus j (floats), the lane's first input
  //   channel and its column offset `j * 9 * cin + k * cin + g * groupChannels` (Int32);
  // - per chunk, 80 words a block: the window's 4 corner weights (floats), then the offset
  //   of its top-left corner (Int32, the lane's first channel included).
  // Then the chunk's offsets and logits by lane (chunks of 2 or more pixels): dy, dx, logit,
  // `chunkLanes` floats each.
  let laneTable = UnsafeMutableRawPointer(scratch + tilePixels * 9 * cin)
  let cornerTable = laneTable + 64 &* 4 &* blocks
  let chunkParams = (cornerTable + 80 &* 4 &* blocks).assumingMemoryBound(to: Float.self)
  let outputTile = chunkParams + 3 &* chunkLanes
  // The window's second column and row (the first again on a map 1 pixel wide or high, where
  // their weights are 0).
  let columnStep = input.width > 1 ? input.pixelStride : 0
  let rowStep = input.height > 1 ? input.rowStride : 0
  let wide = layout.paddedOutputChannels
  let halfColumns = UnsafeMutableRawPointer(columns).assumingMemoryBound(to: Float16.self)
  for lane in 0..<chunkLanes {
    let (j, l) = (lane / lanes, lane % lanes)
    let k = l % 9
    let g = l / 9
    let entry = laneTable + 4 &* (64 &* (lane / 16) &+ lane % 16)
    entry.storeBytes(of: Float(k / 3), as: Float.self)
    entry.storeBytes(of: Float(k % 3 + j), toByteOffset: 64, as: Float.self)
    entry.storeBytes(of: Int32(g * groupChannels), toByteOffset: 128, as: Int32.self)
    entry.storeBytes(of: Int32(j * 9 * cin + k * cin + g * groupChannels), toByteOffset: 192, as: Int32.self)
  }
  let geometry = SamplingGeometry(
    height: input.height, width: input.width, rowStride: input.rowStride, pixelStride: input.pixelStride)

  for oy in rows {
    let paramsRow = offsetsAndMask.base + oy &* offsetsAndMask.rowStride
    var x0 = 0
    while x0 < output.width {
      let count = min(tilePixels, output.width &- x0)
      var j0 = 0
      while j0 < count {
        let pixels = min(chunk, count &- j0)
        if chunk == 1 {
          // 1-2. Coordinates and corner weights, 16 lanes at a time, from the pixel's parameters.
          geometry.fillCornerTable(
            blocks: blocks, lanes: lanes, params: paramsRow + (x0 &+ j0) &* offsetsAndMask.pixelStride, oy: oy,
            ox: x0 &+ j0, laneTable: UnsafeRawPointer(laneTable), cornerTable: cornerTable)
        } else {
          // 1. The chunk's offsets and logits by lane (pixels past the tile repeat its last).
          for j in 0..<chunk {
            let ox = x0 &+ j0 &+ min(j, pixels &- 1)
            copyLaneParameters(
              paramsRow + ox &* offsetsAndMask.pixelStride, lanes: lanes, into: chunkParams + j &* lanes,
              chunkLanes: chunkLanes)
          }
          // 2. Coordinates and corner weights, 16 lanes at a time.
          geometry.fillChunkCornerTable(
            blocks: blocks, params: UnsafePointer(chunkParams), chunkLanes: chunkLanes, oy: oy, ox: x0 &+ j0,
            laneTable: UnsafeRawPointer(laneTable), cornerTable: cornerTable)
        }
        // 3. Gather: column[tap][c] = sum over corners of weight * input[corner][c].
        if halfArithmetic != nil {
          gatherColumns(
            input: UnsafePointer(input.base), column: halfColumns + j0 &* 9 &* cin, lanes: pixels &* lanes,
            groupChannels: groupChannels, columnStep: columnStep, rowStep: rowStep,
            laneTable: UnsafeRawPointer(laneTable), cornerTable: UnsafeRawPointer(cornerTable))
        } else {
          gatherColumns(
            input: UnsafePointer(input.base), column: columns + j0 &* 9 &* cin, lanes: pixels &* lanes,
            groupChannels: groupChannels, columnStep: columnStep, rowStep: rowStep,
            laneTable: UnsafeRawPointer(laneTable), cornerTable: UnsafeRawPointer(cornerTable))
        }
        j0 &+= pixels
      }
      // 4. Multiply the tile's columns with the packed weights.
      #if arch(arm64)
        if let halfArithmetic {
          f16ColumnTiles(
            count: count, columns: UnsafePointer(halfColumns), cin: cin, weights: halfArithmetic, epilogue: epilogue,
            out: UnsafeMutableRawPointer(output.pixel(oy, x0)), outFloat32: O.self == Float.self,
            outPStride: output.pixelStride)
          x0 &+= count
          continue
        }
      #endif
      guard let weights else { preconditionFailure("deformable conv: no weights") }
      if O.self == Float.self {
        let out = UnsafeMutableRawPointer(output.pixel(oy, x0)).assumingMemoryBound(to: Float.self)
        runTileRow(
          count: count, a: UnsafePointer(columns), pStride: 9 &* cin, kxStride: cin, kyStride: 3 &* cin, nKy: 3,
          nKx: 3, weights: weights, out: out, outPStride: output.pixelStride, epilogue: epilogue,
          residual: UnsafePointer(out), residualPStride: output.pixelStride)
      } else {
        runTileRow(
          count: count, a: UnsafePointer(columns), pStride: 9 &* cin, kxStride: cin, kyStride: 3 &* cin, nKy: 3,
          nKx: 3, weights: weights, out: outputTile, outPStride: wide, epilogue: epilogue,
          residual: UnsafePointer(outputTile), residualPStride: wide)
        for j in 0..<count {
          narrowRow(UnsafePointer(outputTile + j &* wide), output.pixel(oy, x0 &+ j), output.channels)
        }
      }
      x0 &+= count
    }
  }
}

/// Copies one pixel's `lanes` offset pairs and mask logits (`params`: dy, dx interleaved, then
/// the logits) apart: dy to `destination[l]`, dx to `destination[chunkLanes + l]`, the logit to
/// `destination[2 * chunkLanes + l]`. By 16 lanes, the last 16 overlapping the one before; a
/// pixel of fewer than 16 lanes (1 group) one by one.
@inline(__always)
func copyLaneParameters(
  _ params: UnsafePointer<Float>, lanes: Int, into destination: UnsafeMutablePointer<Float>, chunkLanes: Int
) {
  guard lanes >= 16 else {
    for l in 0..<lanes {
      destination[l] = params[2 &* l]
      destination[chunkLanes &+ l] = params[2 &* l &+ 1]
      destination[2 &* chunkLanes &+ l] = params[2 &* lanes &+ l]
    }
    return
  }
  var l = 0
  while l < lanes {
    let first = min(l, lanes &- 16)
    let (dy, dx) = deinterleave(loadVector(params + 2 &* first), loadVector(params + (2 &* first &+ 16)))
    storeVector(dy, destination + first)
    storeVector(dx, destination + (chunkLanes &+ first))
    storeVector(loadVector(params + (2 &* lanes &+ first)), destination + (2 &* chunkLanes &+ first))
    l &+= 16
  }
}

/// The sampling positions of one output pixel's deformable taps, as the gather needs them.
struct SamplingGeometry {
  let height: Int
  let width: Int
  let rowStride: Int
  let pixelStride: Int

  /// Fills the corner table of the output pixel (`oy`, `ox`) whose offsets and mask logits
  /// start at `params`, 16 lanes (a block) at a time (see `fillCornerBlock`).
  /// Not inlined into the (large, generic) row loop: apart, its constants stay in registers
  /// across the blocks.
  @inline(never)
  func fillCornerTable(
    blocks: Int, lanes: Int, params: UnsafePointer<Float>, oy: Int, ox: Int, laneTable: UnsafeRawPointer,
    cornerTable: UnsafeMutableRawPointer
  ) {
    for block in 0..<blocks {
      let l0 = 16 &* block
      var dy = SIMD16<Float>()
      var dx = SIMD16<Float>()
      var logit = SIMD16<Float>()
      if l0 &+ 16 <= lanes {
        (dy, dx) = deinterleave(loadVector(params + 2 &* l0), loadVector(params + (2 &* l0 &+ 16)))
        logit = loadVector(params + (2 &* lanes &+ l0))
      } else {
        for i in 0..<(lanes &- l0) {
          dy[i] = params[2 &* (l0 &+ i)]
          dx[i] = params[2 &* (l0 &+ i) &+ 1]
          logit[i] = params[2 &* lanes &+ l0 &+ i]
        }
      }
      fillCornerBlock(
        block: block, dy: dy, dx: dx, logit: logit, oy: oy, ox: ox, laneTable: laneTable, cornerTable: cornerTable)
    }
  }

  /// Fills the corner table of a chunk of output pixels whose first is (`oy`, `ox`), from
  /// their offsets and logits by lane (`params`: dy, dx, logit, `chunkLanes` floats each).
  @inline(never)
  func fillChunkCornerTable(
    blocks: Int, params: UnsafePointer<Float>, chunkLanes: Int, oy: Int, ox: Int, laneTable: UnsafeRawPointer,
    cornerTable: UnsafeMutableRawPointer
  ) {
    for block in 0..<blocks {
      let l0 = 16 &* block
      fillCornerBlock(
        block: block, dy: loadVector(params + l0), dx: loadVector(params + (chunkLanes &+ l0)),
        logit: loadVector(params + (2 &* chunkLanes &+ l0)), oy: oy, ox: ox, laneTable: laneTable,
        cornerTable: cornerTable)
    }
  }

  /// One block of 16 lanes: each lane's 4 window weights (mask x bilinear, 0 for a window row
  /// or column that is not sampled) and its window's offset (see `DeformableConv`), from the
  /// lanes' offsets `dy`, `dx` and mask logits.
  @inline(__always)
  func fillCornerBlock(
    block: Int, dy: SIMD16<Float>, dx: SIMD16<Float>, logit: SIMD16<Float>, oy: Int, ox: Int,
    laneTable: UnsafeRawPointer, cornerTable: UnsafeMutableRawPointer
  ) {
    let rowStride32 = SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: rowStride))
    let pixelStride32 = SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: pixelStride))
    let zero = SIMD16<Float>()
    let lowY = SIMD16<Float>(repeating: -2)
    let highY = SIMD16<Float>(repeating: Float(height + 1))
    let highX = SIMD16<Float>(repeating: Float(width + 1))
    // The window's first row (column) is at most H-2 (W-2), at least 0.
    let lastStartY = SIMD16<Float>(repeating: Float(max(height - 2, 0)))
    let lastStartX = SIMD16<Float>(repeating: Float(max(width - 2, 0)))
    // Where the window's second row (column) sits from its first: 1, or far off (weight 0) on
    // a map 1 pixel high (wide), whose window repeats the one row (column).
    let secondY = SIMD16<Float>(repeating: height > 1 ? 1 : 8)
    let secondX = SIMD16<Float>(repeating: width > 1 ? 1 : 8)
    let lane = laneTable + 256 &* block
    let corner = cornerTable + 320 &* block
    // Typed steps: Swift 6.2's type checker picks the scalar loadVector in one expression.
    let tapRow: SIMD16<Float> = lane.loadUnaligned(as: SIMD16<Float>.self)
    let tapCol: SIMD16<Float> = lane.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
    let firstChannel: SIMD16<Int32> = lane.loadUnaligned(fromByteOffset: 128, as: SIMD16<Int32>.self)
    var py: SIMD16<Float> = tapRow + dy
    py = py + Float(oy &- 1)
    var px: SIMD16<Float> = tapCol + dx
    px = px + Float(ox &- 1)
    // Far-away (and NaN) positions become -2: both window rows (columns) then weigh 0.
    py = py.replacing(with: lowY, where: .!(py .>= lowY))
    py = py.replacing(with: highY, where: py .> highY)
    px = px.replacing(with: lowY, where: .!(px .>= lowY))
    px = px.replacing(with: highX, where: px .> highX)
    var sy: SIMD16<Float> = py.rounded(.down)
    sy = sy.replacing(with: lastStartY, where: sy .> lastStartY)
    sy = sy.replacing(with: zero, where: sy .< zero)
    var sx: SIMD16<Float> = px.rounded(.down)
    sx = sx.replacing(with: lastStartX, where: sx .> lastStartX)
    sx = sx.replacing(with: zero, where: sx .< zero)
    // Distances of the sampling position from the window's rows and columns.
    let ty0: SIMD16<Float> = py - sy
    let ty1: SIMD16<Float> = ty0 - secondY
    let tx0: SIMD16<Float> = px - sx
    let tx1: SIMD16<Float> = tx0 - secondX
    // The sigmoid, spelt out: vectorSigmoid stays a call (see there).
    let mask = 1 / (1 + vectorExp(-logit))
    let my0 = mask * hat(ty0)
    let my1 = mask * hat(ty1)
    let wx0 = hat(tx0)
    let wx1 = hat(tx1)
    let window: SIMD16<Int32> = roundToInt32(sy) &* rowStride32 &+ firstChannel
    corner.storeBytes(of: my0 * wx0, as: SIMD16<Float>.self)
    corner.storeBytes(of: my0 * wx1, toByteOffset: 64, as: SIMD16<Float>.self)
    corner.storeBytes(of: my1 * wx0, toByteOffset: 128, as: SIMD16<Float>.self)
    corner.storeBytes(of: my1 * wx1, toByteOffset: 192, as: SIMD16<Float>.self)
    corner.storeBytes(of: window &+ roundToInt32(sx) &* pixelStride32, toByteOffset: 256, as: SIMD16<Int32>.self)
  }
}

/// The bilinear weight of a row (column) at distance `t` from the sampling position:
/// `max(0, 1 - |t|)`.
@inline(__always)
private func hat(_ t: SIMD16<Float>) -> SIMD16<Float> {
  let magnitude = unsafeBitCast(unsafeBitCast(t, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: SIMD16<Float>.self)
  let w: SIMD16<Float> = 1 - magnitude
  return w.replacing(with: SIMD16<Float>(), where: w .< SIMD16<Float>())
}

/// `column[k * cin + c] = sum over the 4 corners of weight * input[corner + c]` for every lane
/// (see the tables in `deformConvRows`), one lane at a time: its words are at constant
/// displacements from one pointer, and its 4 corners are one address and the column and row
/// steps from it. Not inlined: in the row loop its table pointer was spilled and reloaded from
/// the stack for every corner (3% of the 64-channel sampler).
@inline(never)
private func gatherColumns<I: MapElement, C: MapElement>(
  input: UnsafePointer<I>, column: UnsafeMutablePointer<C>, lanes: Int, groupChannels: Int, columnStep: Int,
  rowStep: Int, laneTable: UnsafeRawPointer, cornerTable: UnsafeRawPointer
) {
  let diagonalStep = columnStep &+ rowStep
  @inline(__always)
  func weight(_ corner: UnsafeRawPointer, _ i: Int) -> Float { corner.load(fromByteOffset: 64 &* i, as: Float.self) }
  @inline(__always)
  func source(_ corner: UnsafeRawPointer) -> UnsafePointer<I> {
    input + Int(corner.load(fromByteOffset: 256, as: Int32.self))
  }
  @inline(__always)
  func destination(_ lane: Int) -> UnsafeMutablePointer<C> {
    column + Int(laneTable.load(fromByteOffset: 4 &* (64 &* (lane >> 4) &+ (lane & 15)) &+ 192, as: Int32.self))
  }
  @inline(__always)
  func corners(_ lane: Int) -> UnsafeRawPointer { cornerTable + 4 &* (80 &* (lane >> 4) &+ (lane & 15)) }
  switch groupChannels {
  case 8:
    for l in 0..<lanes {
      let c = corners(l)
      let p = source(c)
      var v = I.load8(p) * weight(c, 0)
      v = v.addingProduct(I.load8(p + columnStep), weight(c, 1))
      v = v.addingProduct(I.load8(p + rowStep), weight(c, 2))
      v = v.addingProduct(I.load8(p + diagonalStep), weight(c, 3))
      C.store8(v, destination(l))
    }
  case 16:
    for l in 0..<lanes {
      let c = corners(l)
      let p = source(c)
      var v = I.load16(p) * weight(c, 0)
      v = v.addingProduct(I.load16(p + columnStep), weight(c, 1))
      v = v.addingProduct(I.load16(p + rowStep), weight(c, 2))
      v = v.addingProduct(I.load16(p + diagonalStep), weight(c, 3))
      C.store16(v, destination(l))
    }
  default:
    for l in 0..<lanes {
      let c = corners(l)
      let p0 = source(c)
      let (p1, p2, p3) = (p0 + columnStep, p0 + rowStep, p0 + diagonalStep)
      let (w0, w1, w2, w3) = (weight(c, 0), weight(c, 1), weight(c, 2), weight(c, 3))
      let dst = destination(l)
      for ch in 0..<groupChannels {
        var s = I.load1(p0 + ch) * w0
        s = s.addingProduct(I.load1(p1 + ch), w1)
        s = s.addingProduct(I.load1(p2 + ch), w2)
        s = s.addingProduct(I.load1(p3 + ch), w3)
        C.store1(s, dst + ch)
      }
    }
  }
}
