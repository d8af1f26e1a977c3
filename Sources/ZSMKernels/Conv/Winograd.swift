/// Winograd F(4x4, 3x3) for stride-1 3x3 convolutions (zero padding 1).
///
/// Each 4x4 block of output pixels ("tile") is computed from the 6x6 input patch around it as
/// `Y = A^T [ U ⊙ V ] A`, with `U = G g G^T` (the 3x3 kernel of one input/output channel pair,
/// transformed once at load) and `V = B^T d B` (the patch, transformed per tile). Summed over
/// the input channels, the 36 element-wise products become 36 independent matrix products
/// `M[ξ] = V[ξ] · U[ξ]` (tiles x Cin times Cin x Cout): 36 multiplies per tile and channel
/// pair instead of the direct convolution's 144 (4x fewer). The products run on the same
/// register-blocked micro-kernels as the 1x1 convolution (`runTileRow`, one tap).
///
/// Interpolation points 0, ±1, ±2 and ∞ (Lavin & Gray 2016; the matrices ncnn's
/// `conv3x3s1_winograd43` and XNNPACK use):
///
///     B^T = [4  0 -5  0 1 0]   G = [ 1/4    0     0  ]   A^T = [1 1  1 1  1 0]
///           [0 -4 -4  1 1 0]       [-1/6 -1/6  -1/6  ]         [0 1 -1 2 -2 0]
///           [0  4 -4 -1 1 0]       [-1/6  1/6  -1/6  ]         [0 1  1 4  4 0]
///           [0 -2 -1  2 1 0]       [1/24 1/12   1/6  ]         [0 1 -1 8 -8 1]
///           [0  2 -1 -2 1 0]       [1/24 -1/12  1/6  ]
///           [0  4  0 -5 0 1]       [  0    0     1   ]
///
/// Accuracy: the transforms' coefficients (up to 5 in `B`, 8 in `A`) amplify fp32 rounding;
/// the kernel tests bound every output within 5e-5 of the magnitude it is summed from
/// (|bias| + Σ|w·x|, the bound the direct kernels meet at 1e-5), measured at about 1e-5.
///
/// Work is done per band of 4 output rows, in chunks of tiles across (`WinogradLayout.chunkTiles`)
/// so that a chunk's transformed inputs and products stay in the L2 cache; all of it in the
/// caller's per-thread scratch (`scratchCount`): nothing is allocated per frame.
public struct WinogradLayout: Sendable, Equatable {
  public let inputChannels: Int
  public let outputChannels: Int

  /// Output pixels per tile side, input patch side, and transformed values per tile.
  public static let tileSize = 4
  public static let patchSize = 6
  public static let positions = 36

  public init(inputChannels: Int, outputChannels: Int) {
    self.inputChannels = inputChannels
    self.outputChannels = outputChannels
  }

  /// Whether this kernel handles the shape: input channels in whole 16-lane vectors (the
  /// input transform works on vectors of channels).
  public static func supports(inputChannels: Int, outputChannels: Int) -> Bool {
    inputChannels > 0 && inputChannels % 16 == 0 && outputChannels > 0
  }

  /// The product `M[ξ] = V[ξ] U[ξ]` as a 1x1 convolution: output channels padded to whole
  /// vectors (the padding's weights are zero, so every product row is whole vectors).
  public var gemmLayout: ConvWeightLayout {
    let padded = (outputChannels + 15) / 16 * 16
    return ConvWeightLayout(inputChannels: inputChannels, outputChannels: padded, taps: 1)
  }

  public var paddedOutputChannels: Int { gemmLayout.outputChannels }

  /// Floats of transformed, packed weights: 36 `gemmLayout` blocks, one per position ξ.
  public var packedWeightCount: Int { WinogradLayout.positions * gemmLayout.packedWeightCount }

  /// Tiles across a map `width` output pixels wide.
  public static func tilesAcross(width: Int) -> Int { (width + 3) / 4 }

  /// Tiles handled at once: the most whose transformed inputs and products (36 x (Cin +
  /// padded Cout) floats per tile) fit in about 768 KiB, at least 6 (one micro-kernel row),
  /// spread evenly over a row of `width` output pixels.
  public func chunkTiles(width: Int) -> Int {
    let across = WinogradLayout.tilesAcross(width: width)
    let perTile = WinogradLayout.positions * (inputChannels + paddedOutputChannels) * 4
    let most = max(6, 786_432 / perTile)
    let chunks = (across + most - 1) / most
    return max(1, (across + chunks - 1) / chunks)
  }

  /// Floats of per-thread scratch for output rows `width` pixels wide.
  public func scratchCount(width: Int) -> Int {
    let chunk = chunkTiles(width: width)
    let transformed = WinogradLayout.positions * chunk * (inputChannels + paddedOutputChannels)
    return transformed + 48 * 16
  }

  /// Transforms PyTorch `[out][in][3][3]` weights (`U = G g G^T`, in Double) and packs them:
  /// position ξ's block (`gemmLayout`, `[ic][oc]` in output-channel blocks) starts at
  /// `ξ * gemmLayout.packedWeightCount`. `outputOrder` maps a packed output channel to the
  /// source's, as `ConvWeightLayout.pack`. `zeros` receives `paddedOutputChannels` zeros (the
  /// products' bias).
  public func pack(
    weights source: UnsafePointer<Float>, into weights: UnsafeMutablePointer<Float>,
    zeros: UnsafeMutablePointer<Float>, outputOrder: (Int) -> Int = { $0 }
  ) {
    let cin = inputChannels
    let gemm = gemmLayout
    let padded = gemm.outputChannels
    let g: [[Double]] = [
      [1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
      [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1],
    ]
    // [ξ][oc][ic], then each ξ packed as a 1x1 layer.
    let plane = padded * cin
    let transformed = UnsafeMutablePointer<Float>.allocate(capacity: WinogradLayout.positions * plane)
    defer { transformed.deallocate() }
    transformed.initialize(repeating: 0, count: WinogradLayout.positions * plane)
    for o in 0..<outputChannels {
      let so = outputOrder(o)
      for ic in 0..<cin {
        let k = source + (so * cin + ic) * 9
        // t = G g (6x3), then u = t G^T (6x6).
        var t = [Double](repeating: 0, count: 18)
        for r in 0..<6 {
          for c in 0..<3 {
            var s = 0.0
            for j in 0..<3 { s += g[r][j] * Double(k[j * 3 + c]) }
            t[r * 3 + c] = s
          }
        }
        for r in 0..<6 {
          for c in 0..<6 {
            var s = 0.0
            for j in 0..<3 { s += t[r * 3 + j] * g[c][j] }
            transformed[(r * 6 + c) * plane + o * cin + ic] = Float(s)
          }
        }
      }
    }
    zeros.initialize(repeating: 0, count: padded)
    for xi in 0..<WinogradLayout.positions {
      gemm.pack(
        weights: UnsafePointer(transformed + xi * plane), bias: UnsafePointer(zeros),
        into: weights + xi * gemm.packedWeightCount, bias: zeros)
    }
  }
}

/// Transforms a layer's packed 3x3 weights (`ConvWeightLayout`, 9 taps, fp32) into the
/// packed Winograd weights of `WinogradLayout.pack` (`U = G g G^T` in fp32, 16 output
/// channels at a time), for input channels `channels` (a sub-range: a pool splits them).
/// The direct and the Winograd layouts cut the output channels into the same blocks, so
/// block `o0`'s `[tap][ic][nr]` weights become its `[ic][nr]` weights at each position ξ.
public func winogradTransformWeights(
  _ direct: PackedConvWeights, layout: WinogradLayout, into u: UnsafeMutablePointer<Float>, channels: Range<Int>
) {
  let d = direct.layout
  let cin = d.inputChannels
  let gemmCount = layout.gemmLayout.packedWeightCount
  var o0 = 0
  while o0 < d.paddedOutputChannels {
    let nr = d.blockWidth(at: o0)
    let source = direct.weights + o0 &* 9 &* cin
    let destination = u + o0 &* cin
    let tapStride = cin &* nr
    for ic in channels {
      var j = 0
      while j < nr {
        let g = source + (ic &* nr &+ j)
        let out = destination + (ic &* nr &+ j)
        // Kernel rows ky (taps 3 ky + kx) as vectors.
        let g00 = loadVector(g)
        let g01 = loadVector(g + tapStride)
        let g02 = loadVector(g + 2 &* tapStride)
        let g10 = loadVector(g + 3 &* tapStride)
        let g11 = loadVector(g + 4 &* tapStride)
        let g12 = loadVector(g + 5 &* tapStride)
        let g20 = loadVector(g + 6 &* tapStride)
        let g21 = loadVector(g + 7 &* tapStride)
        let g22 = loadVector(g + 8 &* tapStride)
        // Row r of t = G g (along ky), then u[r][s] = Σ_kx t[r][kx] G[s][kx] (along kx).
        for r in 0..<6 {
          winogradKernelTransform(
            winogradKernelRow(r, g00, g10, g20), winogradKernelRow(r, g01, g11, g21),
            winogradKernelRow(r, g02, g12, g22), out + 6 &* r &* gemmCount, gemmCount)
        }
        j &+= 16
      }
    }
    o0 &+= nr
  }
}

/// Row `r` of `G` applied to (a, b, e).
@inline(__always)
private func winogradKernelRow(_ r: Int, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ e: SIMD16<Float>)
  -> SIMD16<Float>
{
  switch r {
  case 0: return a * 0.25
  case 1: return (a + b + e) * (-1.0 / 6)
  case 2: return (a - b + e) * (-1.0 / 6)
  case 3: return a * (1.0 / 24) + b * (1.0 / 12) + e * (1.0 / 6)
  case 4: return a * (1.0 / 24) - b * (1.0 / 12) + e * (1.0 / 6)
  default: return e
  }
}

/// The six rows of `G` applied to (a, b, e), stored at `out + k * step`.
@inline(__always)
private func winogradKernelTransform(
  _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ e: SIMD16<Float>, _ out: UnsafeMutablePointer<Float>, _ step: Int
) {
  for s in 0..<6 { storeVector(winogradKernelRow(s, a, b, e), out + s &* step) }
}

/// Read-only view of a layer's transformed weights (see `WinogradLayout.pack`).
public struct WinogradWeights {
  public let layout: WinogradLayout
  public let weights: UnsafePointer<Float>
  /// The layer's bias, `paddedOutputChannels` floats (zero past `outputChannels`).
  public let bias: UnsafePointer<Float>
  /// `paddedOutputChannels` zeros.
  public let zeros: UnsafePointer<Float>

  public init(
    layout: WinogradLayout, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, zeros: UnsafePointer<Float>
  ) {
    self.layout = layout
    self.weights = weights
    self.bias = bias
    self.zeros = zeros
  }
}

/// The tile rows (4 output rows each) that output rows `rows` fall in.
public func winogradTileRows(_ rows: Range<Int>) -> Range<Int> {
  (rows.lowerBound / 4)..<((rows.upperBound + 3) / 4)
}

/// Stride-1 3x3 convolution by Winograd F(4,3) between maps of either precision, computing
/// output rows `rows` (tiles that straddle the range are computed whole, their rows outside
/// it not written: split work on `winogradTileRows` boundaries to avoid computing them twice).
/// Reads only the input rows the direct kernel reads for `rows` (`rows.lowerBound - 1` through
/// `rows.upperBound`), so it runs on band buffers as `conv3x3` does.
/// Same layout rules as `conv3x3` (input with a one-pixel zero halo; `residual` read only for
/// `.residual`, with the output's type, and may alias it). `scratch` holds
/// `weights.layout.scratchCount(width: output.width)` floats for the calling thread.
public func conv3x3Winograd(
  input: AnyFeatureMap, weights: WinogradWeights, output: AnyFeatureMap, epilogue: Epilogue,
  residual: AnyFeatureMap?, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>
) {
  switch (input.element, output.element) {
  case (.float32, .float32):
    conv3x3Winograd(
      input: input.float32, weights: weights, output: output.float32, epilogue: epilogue,
      residual: residual?.float32, rows: rows, scratch: scratch)
  case (.float16, .float16):
    conv3x3Winograd(
      input: input.float16, weights: weights, output: output.float16, epilogue: epilogue,
      residual: residual?.float16, rows: rows, scratch: scratch)
  case (.float32, .float16):
    conv3x3Winograd(
      input: input.float32, weights: weights, output: output.float16, epilogue: epilogue,
      residual: residual?.float16, rows: rows, scratch: scratch)
  case (.float16, .float32):
    conv3x3Winograd(
      input: input.float16, weights: weights, output: output.float32, epilogue: epilogue,
      residual: residual?.float32, rows: rows, scratch: scratch)
  }
}

/// The typed kernel behind `conv3x3Winograd(input:weights:output:...)`.
public func conv3x3Winograd<I: MapElement, O: MapElement>(
  input: FeatureMapOf<I>, weights: WinogradWeights, output: FeatureMapOf<O>, epilogue: Epilogue,
  residual: FeatureMapOf<O>?, rows: Range<Int>, scratch: UnsafeMutablePointer<Float>
) {
  if rows.isEmpty { return }
  let layout = weights.layout
  let cin = layout.inputChannels
  let padded = layout.paddedOutputChannels
  let gemm = layout.gemmLayout
  let across = WinogradLayout.tilesAcross(width: output.width)
  let chunk = layout.chunkTiles(width: output.width)
  // Scratch: V[ξ][tile][cin], M[ξ][tile][padded], then 48 vectors for the transforms.
  let v = scratch
  let m = v + WinogradLayout.positions &* chunk &* cin
  let temporary = m + WinogradLayout.positions &* chunk &* padded
  let vPlane = chunk &* cin
  let mPlane = chunk &* padded
  let res = residual ?? output
  // The input rows the direct kernel would read for `rows`; a tile's rows outside them read
  // as zero (they feed only output rows outside `rows`, which are not written).
  let firstRow = rows.lowerBound &- 1
  let lastRow = min(input.height, rows.upperBound)
  for tileRow in winogradTileRows(rows) {
    let oy0 = tileRow &* 4
    var tx0 = 0
    while tx0 < across {
      let count = min(chunk, across &- tx0)
      for t in 0..<count {
        var c = 0
        while c < cin {
          winogradInputTile(
            input, y0: oy0 &- 1, x0: (tx0 &+ t) &* 4 &- 1, channel: c, firstRow: firstRow, lastRow: lastRow,
            temporary: temporary, v: v + (t &* cin &+ c), plane: vPlane)
          c &+= 16
        }
      }
      for xi in 0..<WinogradLayout.positions {
        let u = PackedConvWeights(
          layout: gemm, weights: weights.weights + xi &* gemm.packedWeightCount, bias: weights.zeros)
        runTileRow(
          count: count, a: UnsafePointer(v + xi &* vPlane), pStride: cin, kxStride: 0, kyStride: 0, nKy: 1, nKx: 1,
          weights: u, out: m + xi &* mPlane, outPStride: padded, epilogue: .none,
          residual: UnsafePointer(m), residualPStride: 0)
      }
      for t in 0..<count {
        var c = 0
        while c < layout.outputChannels {
          winogradOutputTile(
            m: UnsafePointer(m + (t &* padded &+ c)), plane: mPlane, temporary: temporary,
            bias: weights.bias + c, lanes: min(16, layout.outputChannels &- c), epilogue: epilogue,
            output: output, residual: res, y0: oy0, x0: (tx0 &+ t) &* 4, channel: c, rows: rows)
          c &+= 16
        }
      }
      tx0 &+= count
    }
  }
}

/// `V = B^T d B` for 16 channels of the 6x6 patch whose top-left is input pixel (y0, x0),
/// written to `v[ξ * plane]` for ξ = 0..<36. Rows outside `firstRow...lastRow` and columns
/// past the halo (column `width` + 1 and right) read as zero.
@inline(__always)
func winogradInputTile<I: MapElement>(
  _ input: FeatureMapOf<I>, y0: Int, x0: Int, channel: Int, firstRow: Int, lastRow: Int,
  temporary: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, plane: Int
) {
  let lastColumn = input.width
  let wholeRow = x0 &+ 5 <= lastColumn
  // Along x, for each patch row: t[r][k] = Σ_c d[r][c] B[c][k].
  for r in 0..<6 {
    let y = y0 &+ r
    var d0 = SIMD16<Float>()
    var d1 = SIMD16<Float>()
    var d2 = SIMD16<Float>()
    var d3 = SIMD16<Float>()
    var d4 = SIMD16<Float>()
    var d5 = SIMD16<Float>()
    if y >= firstRow && y <= lastRow {
      let p = UnsafePointer(input.pixel(y, x0) + channel)
      let s = input.pixelStride
      if wholeRow {
        d0 = I.load16(p)
        d1 = I.load16(p + s)
        d2 = I.load16(p + 2 &* s)
        d3 = I.load16(p + 3 &* s)
        d4 = I.load16(p + 4 &* s)
        d5 = I.load16(p + 5 &* s)
      } else {
        let n = lastColumn &- x0 &+ 1
        if n > 0 { d0 = I.load16(p) }
        if n > 1 { d1 = I.load16(p + s) }
        if n > 2 { d2 = I.load16(p + 2 &* s) }
        if n > 3 { d3 = I.load16(p + 3 &* s) }
        if n > 4 { d4 = I.load16(p + 4 &* s) }
      }
    }
    winogradInputTransform(d0, d1, d2, d3, d4, d5, temporary + r &* 96, 16)
  }
  // Along y, for each column k: V[j][k] = Σ_r B^T[j][r] t[r][k].
  for k in 0..<6 {
    let t = temporary + k &* 16
    winogradInputTransform(
      loadVector(t), loadVector(t + 96), loadVector(t + 192), loadVector(t + 288), loadVector(t + 384),
      loadVector(t + 480), v + k &* plane, 6 &* plane)
  }
}

/// The six rows of `B^T` applied to `d0...d5`, stored at `out + j * step` for j = 0..<6.
@inline(__always)
func winogradInputTransform(
  _ d0: SIMD16<Float>, _ d1: SIMD16<Float>, _ d2: SIMD16<Float>, _ d3: SIMD16<Float>, _ d4: SIMD16<Float>,
  _ d5: SIMD16<Float>, _ out: UnsafeMutablePointer<Float>, _ step: Int
) {
  let four = SIMD16<Float>(repeating: 4)
  let minusFive = SIMD16<Float>(repeating: -5)
  let two = SIMD16<Float>(repeating: 2)
  let d4MinusD2 = d4 - d2
  let d1MinusD3 = d1 - d3
  let d3PlusD4 = d3 + d4
  let d4MinusD3 = d4 - d3
  let d1PlusD2 = d1 + d2
  let d1MinusD2 = d1 - d2
  storeVector(d4.addingProduct(four, d0).addingProduct(minusFive, d2), out)
  storeVector(d3PlusD4.addingProduct(-four, d1PlusD2), out + step)
  storeVector(d4MinusD3.addingProduct(four, d1MinusD2), out + 2 &* step)
  storeVector(d4MinusD2.addingProduct(-two, d1MinusD3), out + 3 &* step)
  storeVector(d4MinusD2.addingProduct(two, d1MinusD3), out + 4 &* step)
  storeVector(d5.addingProduct(four, d1).addingProduct(minusFive, d3), out + 5 &* step)
}

/// `Y = A^T M A` for 16 output channels of one tile (`m[ξ * plane]`), plus bias and the
/// epilogue, stored at output pixels (y0 + i, x0 + j) that lie in `rows` and the map.
@inline(__always)
func winogradOutputTile<O: MapElement>(
  m: UnsafePointer<Float>, plane: Int, temporary: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>,
  lanes: Int, epilogue: Epilogue, output: FeatureMapOf<O>, residual: FeatureMapOf<O>, y0: Int, x0: Int,
  channel: Int, rows: Range<Int>
) {
  // Along x, for each row j of M: t[j][k] = Σ_c M[j][c] A[c][k] (k = 0..<4).
  for j in 0..<6 {
    let row = m + 6 &* j &* plane
    winogradOutputTransform(
      loadVector(row), loadVector(row + plane), loadVector(row + 2 &* plane), loadVector(row + 3 &* plane),
      loadVector(row + 4 &* plane), loadVector(row + 5 &* plane), temporary + j &* 64, 16)
  }
  let b = loadVector(bias)
  // Along y, for each column k: Y[i][k] = Σ_j A^T[i][j] t[j][k] (i = 0..<4).
  let results = temporary + 384
  for k in 0..<4 {
    let t = temporary + k &* 16
    winogradOutputTransform(
      loadVector(t), loadVector(t + 64), loadVector(t + 128), loadVector(t + 192), loadVector(t + 256),
      loadVector(t + 320), results + k &* 16, 64)
  }
  for i in 0..<4 {
    let y = y0 &+ i
    if y < rows.lowerBound || y >= rows.upperBound { continue }
    for k in 0..<4 {
      let x = x0 &+ k
      if x >= output.width { break }
      var value = loadVector(results + (i &* 64 &+ k &* 16)) + b
      let dst = output.pixel(y, x) + channel
      let r = UnsafePointer(residual.pixel(y, x) + channel)
      if lanes == 16 {
        switch epilogue {
        case .none: break
        case .relu: value = relu(value)
        case .leakyRelu: value = leakyRelu(value)
        case .residual: value += O.load16(r)
        }
        O.store16(value, dst)
      } else {
        for lane in 0..<lanes {
          var s = value[lane]
          switch epilogue {
          case .none: break
          case .relu: s = s < 0 ? 0 : s
          case .leakyRelu: s = leakyRelu(s)
          case .residual: s += O.load1(r + lane)
          }
          O.store1(s, dst + lane)
        }
      }
    }
  }
}

/// The four rows of `A^T` applied to `m0...m5`, stored at `out + i * step` for i = 0..<4.
@inline(__always)
func winogradOutputTransform(
  _ m0: SIMD16<Float>, _ m1: SIMD16<Float>, _ m2: SIMD16<Float>, _ m3: SIMD16<Float>, _ m4: SIMD16<Float>,
  _ m5: SIMD16<Float>, _ out: UnsafeMutablePointer<Float>, _ step: Int
) {
  let sum12 = m1 + m2
  let difference12 = m1 - m2
  let sum34 = m3 + m4
  let difference34 = m3 - m4
  storeVector(m0 + sum12 + sum34, out)
  storeVector(difference12.addingProduct(SIMD16<Float>(repeating: 2), difference34), out + step)
  storeVector(sum12.addingProduct(SIMD16<Float>(repeating: 4), sum34), out + 2 &* step)
  storeVector((difference12 + m5).addingProduct(SIMD16<Float>(repeating: 8), difference34), out + 3 &* step)
}
