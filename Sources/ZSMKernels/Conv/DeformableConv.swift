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
public enum DeformableConv {
  /// Floats of per-thread scratch `deformConv3x3` needs (with room for a tile of fp32 output
  /// rows, used when the output is stored in another precision).
  public static func scratchCount(inputChannels: Int, groups: Int, tilePixels: Int, outputChannels: Int? = nil)
    -> Int
  {
    let lanes = paddedLanes(groups)
    let outputRow = tilePixels * ((outputChannels ?? inputChannels) + 63) / 64 * 64
    return tilePixels * 9 * inputChannels + 12 * lanes + outputRow
  }

  /// A good tile: a multiple of both full micro-kernel widths, 110 KB of columns at C = 64.
  public static let defaultTilePixels = 48

  @inline(__always)
  static func paddedLanes(_ groups: Int) -> Int { (groups * 9 + 15) / 16 * 16 }
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

// Inlined so the fp32 entry point holds the loop itself (Tests/ARM64/loops.py checks it by name).
@inline(__always)
func deformConvRows<I: MapElement, O: MapElement>(
  input: FeatureMapOf<I>, offsetsAndMask: FeatureMap, groups: Int, weights: PackedConvWeights,
  output: FeatureMapOf<O>, epilogue: Epilogue, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>,
  tilePixels: Int
) {
  let cin = input.channels
  let groupChannels = cin / groups
  let lanes = groups * 9
  let lanesPadded = DeformableConv.paddedLanes(groups)
  let columns = scratch
  let tables = UnsafeMutableRawPointer(scratch + tilePixels * 9 * cin)
  // Per call: lane tables. Lane l = g*9 + k.
  let tapRow = tables.assumingMemoryBound(to: Float.self)
  let tapCol = tapRow + lanesPadded
  let sourceChannel = UnsafeMutableRawPointer(tapCol + lanesPadded).assumingMemoryBound(to: Int32.self)
  let columnOffset = sourceChannel + lanesPadded
  // Per pixel: 4 corner weights and 4 corner offsets per lane.
  let cornerWeight = UnsafeMutableRawPointer(columnOffset + lanesPadded).assumingMemoryBound(to: Float.self)
  let cornerOffset = UnsafeMutableRawPointer(cornerWeight + 4 * lanesPadded).assumingMemoryBound(to: Int32.self)
  let outputTile = UnsafeMutableRawPointer(cornerOffset + 4 * lanesPadded).assumingMemoryBound(to: Float.self)
  let wide = weights.layout.paddedOutputChannels
  for l in 0..<lanesPadded {
    let k = l % 9
    let g = min(l / 9, groups - 1)
    tapRow[l] = Float(k / 3)
    tapCol[l] = Float(k % 3)
    sourceChannel[l] = Int32(g * groupChannels)
    columnOffset[l] = Int32(k * cin + g * groupChannels)
  }
  let height = input.height
  let width = input.width
  let rowStride32 = SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: input.rowStride))
  let pixelStride32 = SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: input.pixelStride))
  let maxY = SIMD16<Int32>(repeating: Int32(height - 1))
  let maxX = SIMD16<Int32>(repeating: Int32(width - 1))
  let zero32 = SIMD16<Int32>(repeating: 0)
  let one32 = SIMD16<Int32>(repeating: 1)
  let minus1 = SIMD16<Int32>(repeating: -1)
  let lowY = SIMD16<Float>(repeating: -2)
  let highY = SIMD16<Float>(repeating: Float(height + 1))
  let highX = SIMD16<Float>(repeating: Float(width + 1))

  for oy in rows {
    let paramsRow = offsetsAndMask.base + oy &* offsetsAndMask.rowStride
    var x0 = 0
    while x0 < output.width {
      let count = min(tilePixels, output.width &- x0)
      for j in 0..<count {
        let ox = x0 &+ j
        let params = paramsRow + ox &* offsetsAndMask.pixelStride
        // 1. Coordinates, validity and corner weights, 16 (group, tap) lanes at a time.
        var l0 = 0
        while l0 < lanes {
          var dy = SIMD16<Float>()
          var dx = SIMD16<Float>()
          var logit = SIMD16<Float>()
          if l0 &+ 16 <= lanes {
            let pairs = UnsafeRawPointer(params + 2 &* l0).loadUnaligned(as: SIMD32<Float>.self)
            dy = pairs.evenHalf
            dx = pairs.oddHalf
            logit = loadVector(params + (2 &* lanes &+ l0))
          } else {
            for i in 0..<(lanes &- l0) {
              dy[i] = params[2 &* (l0 &+ i)]
              dx[i] = params[2 &* (l0 &+ i) &+ 1]
              logit[i] = params[2 &* lanes &+ l0 &+ i]
            }
          }
          // Typed steps: Swift 6.2's type checker picks the scalar loadVector in one expression.
          var py: SIMD16<Float> = loadVector(tapRow + l0) + dy
          py = py + Float(oy &- 1)
          var px: SIMD16<Float> = loadVector(tapCol + l0) + dx
          px = px + Float(ox &- 1)
          // Far-away (and NaN) positions become -2: every corner is then outside.
          py = py.replacing(with: lowY, where: .!(py .>= lowY))
          py = py.replacing(with: highY, where: py .> highY)
          px = px.replacing(with: lowY, where: .!(px .>= lowY))
          px = px.replacing(with: highX, where: px .> highX)
          let fy = py.rounded(.down)
          let fx = px.rounded(.down)
          let ly = py - fy
          let lx = px - fx
          let hy = 1 - ly
          let hx = 1 - lx
          let mask = vectorSigmoid(logit)
          let y0 = roundToInt32(fy)
          let x0i = roundToInt32(fx)
          let y1 = y0 &+ one32
          let x1 = x0i &+ one32
          let vy0 = (y0 .>= zero32) .& (y0 .<= maxY)
          let vy1 = (y0 .>= minus1) .& (y0 .< maxY)
          let vx0 = (x0i .>= zero32) .& (x0i .<= maxX)
          let vx1 = (x0i .>= minus1) .& (x0i .< maxX)
          let zero = SIMD16<Float>()
          let mhy = mask * hy
          let mly = mask * ly
          let w00 = (mhy * hx).replacing(with: zero, where: .!(vy0 .& vx0))
          let w01 = (mhy * lx).replacing(with: zero, where: .!(vy0 .& vx1))
          let w10 = (mly * hx).replacing(with: zero, where: .!(vy1 .& vx0))
          let w11 = (mly * lx).replacing(with: zero, where: .!(vy1 .& vx1))
          let cy0 = y0.replacing(with: zero32, where: y0 .< zero32).replacing(with: maxY, where: y0 .> maxY)
          let cy1 = y1.replacing(with: zero32, where: y1 .< zero32).replacing(with: maxY, where: y1 .> maxY)
          let cx0 = x0i.replacing(with: zero32, where: x0i .< zero32).replacing(with: maxX, where: x0i .> maxX)
          let cx1 = x1.replacing(with: zero32, where: x1 .< zero32).replacing(with: maxX, where: x1 .> maxX)
          let r0 = cy0 &* rowStride32
          let r1 = cy1 &* rowStride32
          let c0 = cx0 &* pixelStride32
          let c1 = cx1 &* pixelStride32
          storeVector(w00, cornerWeight + l0)
          storeVector(w01, cornerWeight + (lanesPadded &+ l0))
          storeVector(w10, cornerWeight + (2 &* lanesPadded &+ l0))
          storeVector(w11, cornerWeight + (3 &* lanesPadded &+ l0))
          let offsets = UnsafeMutableRawPointer(cornerOffset)
          offsets.storeBytes(of: r0 &+ c0, toByteOffset: 4 &* l0, as: SIMD16<Int32>.self)
          offsets.storeBytes(of: r0 &+ c1, toByteOffset: 4 &* (lanesPadded &+ l0), as: SIMD16<Int32>.self)
          offsets.storeBytes(of: r1 &+ c0, toByteOffset: 4 &* (2 &* lanesPadded &+ l0), as: SIMD16<Int32>.self)
          offsets.storeBytes(of: r1 &+ c1, toByteOffset: 4 &* (3 &* lanesPadded &+ l0), as: SIMD16<Int32>.self)
          l0 &+= 16
        }
        // 2. Gather: column[tap][c] = sum over corners of weight * input[corner][c].
        let column = columns + j &* 9 &* cin
        gatherColumns(
          input: UnsafePointer(input.base), column: column, lanes: lanes, lanesPadded: lanesPadded,
          groupChannels: groupChannels, sourceChannel: sourceChannel, columnOffset: columnOffset,
          cornerWeight: cornerWeight, cornerOffset: cornerOffset)
      }
      // 3. Multiply the tile's columns with the packed weights.
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

@inline(__always)
private func gatherColumns<I: MapElement>(
  input: UnsafePointer<I>, column: UnsafeMutablePointer<Float>, lanes: Int, lanesPadded: Int,
  groupChannels: Int, sourceChannel: UnsafeMutablePointer<Int32>, columnOffset: UnsafeMutablePointer<Int32>,
  cornerWeight: UnsafeMutablePointer<Float>, cornerOffset: UnsafeMutablePointer<Int32>
) {
  let w1 = cornerWeight + lanesPadded
  let w2 = cornerWeight + 2 &* lanesPadded
  let w3 = cornerWeight + 3 &* lanesPadded
  let o1 = cornerOffset + lanesPadded
  let o2 = cornerOffset + 2 &* lanesPadded
  let o3 = cornerOffset + 3 &* lanesPadded
  switch groupChannels {
  case 8:
    for l in 0..<lanes {
      let src = input + Int(sourceChannel[l])
      var v = I.load8(src + Int(cornerOffset[l])) * cornerWeight[l]
      v = v.addingProduct(I.load8(src + Int(o1[l])), w1[l])
      v = v.addingProduct(I.load8(src + Int(o2[l])), w2[l])
      v = v.addingProduct(I.load8(src + Int(o3[l])), w3[l])
      storeVector8(v, column + Int(columnOffset[l]))
    }
  case 16:
    for l in 0..<lanes {
      let src = input + Int(sourceChannel[l])
      var v = I.load16(src + Int(cornerOffset[l])) * cornerWeight[l]
      v = v.addingProduct(I.load16(src + Int(o1[l])), w1[l])
      v = v.addingProduct(I.load16(src + Int(o2[l])), w2[l])
      v = v.addingProduct(I.load16(src + Int(o3[l])), w3[l])
      storeVector(v, column + Int(columnOffset[l]))
    }
  default:
    for l in 0..<lanes {
      let src = input + Int(sourceChannel[l])
      let p0 = src + Int(cornerOffset[l])
      let p1 = src + Int(o1[l])
      let p2 = src + Int(o2[l])
      let p3 = src + Int(o3[l])
      let dst = column + Int(columnOffset[l])
      for c in 0..<groupChannels {
        var s = I.load1(p0 + c) * cornerWeight[l]
        s = s.addingProduct(I.load1(p1 + c), w1[l])
        s = s.addingProduct(I.load1(p2 + c), w2[l])
        s = s.addingProduct(I.load1(p3 + c), w3[l])
        dst[c] = s
      }
    }
  }
}
