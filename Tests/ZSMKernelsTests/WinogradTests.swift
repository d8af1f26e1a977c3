import XCTest
import ZSMKernels

/// Winograd F(4,3) 3x3 convolution against the plain Double reference (`Reference.conv`).
///
/// Bound: every output within 5e-5 of the magnitude it is summed from (|bias| + Σ|w·x|). The
/// direct kernels meet 1e-5; Winograd's transforms add terms with coefficients up to 5 (`B`),
/// 8 (`A`) and sums of up to 36 products per channel before the reduction over channels, so its
/// fp32 rounding is a small multiple of the direct kernel's (measured about 1e-5 here, the
/// figure printed by `testErrorFigure`). Weights and inputs in [-1, 1] as in the other tests.
final class WinogradTests: XCTestCase {
  static let bound = 1e-5

  struct Case {
    var cin: Int
    var cout: Int
    var height: Int
    var width: Int
    var epilogue: Epilogue = .none
  }

  /// Runs the kernel over `splits` (ranges of output rows, as a worker pool or a band buffer
  /// would ask for them) and returns the scaled error. Input rows outside each split's reach
  /// (`rows.lowerBound - 1 ... rows.upperBound`) are poisoned with NaN while it runs: the
  /// kernel must read only the rows the direct kernel reads.
  @discardableResult
  func check(
    _ t: Case, seed: UInt64, splits: [Range<Int>]? = nil, outputPixelStride: Int? = nil, outputChannelOffset: Int = 0
  ) -> Double {
    var rng = TestRandom(seed: seed)
    let input = rng.array(t.cin * t.height * t.width)
    let weights = rng.array(t.cout * t.cin * 9, -0.3, 0.3)
    let bias = rng.array(t.cout, -0.5, 0.5)
    let inMap = TestMap(height: t.height, width: t.width, channels: t.cin, halo: 1)
    let stride = outputPixelStride ?? t.cout
    let sentinel: Float = 12345
    let outStorage = TestMap(height: t.height, width: t.width, channels: stride, halo: 0, fill: sentinel)
    let outMap = outStorage.map.channelSlice(outputChannelOffset, t.cout)
    var residual: [Float] = []
    if t.epilogue == .residual {
      residual = rng.array(t.cout * t.height * t.width)
      for c in 0..<t.cout {
        for y in 0..<t.height {
          for x in 0..<t.width { outMap.pixel(y, x)[c] = residual[(c * t.height + y) * t.width + x] }
        }
      }
    }
    let layout = WinogradLayout(inputChannels: t.cin, outputChannels: t.cout)
    let packed = UnsafeMutablePointer<Float>.allocate(capacity: layout.packedWeightCount)
    let zeros = UnsafeMutablePointer<Float>.allocate(capacity: layout.paddedOutputChannels)
    let paddedBias = UnsafeMutablePointer<Float>.allocate(capacity: layout.paddedOutputChannels)
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: layout.scratchCount(width: t.width))
    defer {
      packed.deallocate()
      zeros.deallocate()
      paddedBias.deallocate()
      scratch.deallocate()
    }
    for o in 0..<layout.paddedOutputChannels { paddedBias[o] = o < t.cout ? bias[o] : 0 }
    weights.withUnsafeBufferPointer { layout.pack(weights: $0.baseAddress!, into: packed, zeros: zeros) }
    let w = WinogradWeights(layout: layout, weights: packed, bias: paddedBias, zeros: zeros)
    let half = t.height / 2
    for rows in splits ?? [0..<half, half..<t.height] {
      // Load the input, then poison the rows this range must not read.
      inMap.load(nchw: input)
      let m = inMap.map
      for y in -1...t.height {
        let poisoned = y < rows.lowerBound - 1 || y > rows.upperBound
        for x in -1...t.width where poisoned || y < 0 || y == t.height || x < 0 || x == t.width {
          // Poisoned rows, else the zero halo (restored after an earlier range's poison).
          for c in 0..<t.cin { m.pixel(y, x)[c] = poisoned ? .nan : 0 }
        }
      }
      conv3x3Winograd(
        input: AnyFeatureMap(inMap.map), weights: w, output: AnyFeatureMap(outMap), epilogue: t.epilogue,
        residual: t.epilogue == .residual ? AnyFeatureMap(outMap) : nil, rows: rows, scratch: scratch)
    }
    var (want, magnitude) = Reference.conv(
      input: input, cin: t.cin, height: t.height, width: t.width, weights: weights, bias: bias, cout: t.cout,
      kernel: 3, stride: 1)
    for i in want.indices {
      switch t.epilogue {
      case .none: break
      case .relu: want[i] = max(0, want[i])
      case .leakyRelu: want[i] = Reference.leaky(want[i])
      case .residual:
        want[i] += Double(residual[i])
        magnitude[i] += abs(Double(residual[i]))
      }
    }
    var got = [Float](repeating: 0, count: t.cout * t.height * t.width)
    for c in 0..<t.cout {
      for y in 0..<t.height {
        for x in 0..<t.width { got[(c * t.height + y) * t.width + x] = outMap.pixel(y, x)[c] }
      }
    }
    let err = maxScaledError(got, want, scale: magnitude)
    XCTAssertLessThan(err, Self.bound, "\(t): scaled error \(err)")
    XCTAssertFalse(got.contains { $0.isNaN }, "\(t): read a row outside its range")
    if stride > t.cout {
      for y in 0..<t.height {
        for x in 0..<t.width {
          let p = outStorage.map.pixel(y, x)
          for c in 0..<stride where c < outputChannelOffset || c >= outputChannelOffset + t.cout {
            XCTAssertEqual(p[c], sentinel, "\(t): wrote channel \(c) outside its slice")
          }
        }
      }
    }
    return err
  }

  func testShapesAndEdges() {
    // Sizes that are and are not multiples of the 4x4 tile, down to a single pixel.
    let sizes = [(4, 4), (8, 8), (1, 1), (5, 7), (13, 10), (9, 17), (6, 33)]
    for (i, (h, w)) in sizes.enumerated() {
      check(Case(cin: 16, cout: 16, height: h, width: w), seed: UInt64(10 + i))
    }
    check(Case(cin: 32, cout: 48, height: 12, width: 20), seed: 3)
  }

  func testChannelCounts() {
    // Output channels that fill 64-, 32- and 16-wide blocks and a partial last vector.
    for (i, cout) in [64, 96, 80, 24, 3, 216].enumerated() {
      check(Case(cin: 32, cout: cout, height: 9, width: 11), seed: UInt64(20 + i))
    }
    check(Case(cin: 128, cout: 64, height: 6, width: 9), seed: 27)
    check(Case(cin: 64, cout: 256, height: 5, width: 8), seed: 28)
  }

  func testEpilogues() {
    for (i, e) in [Epilogue.none, .relu, .leakyRelu, .residual].enumerated() {
      check(Case(cin: 16, cout: 40, height: 10, width: 13, epilogue: e), seed: UInt64(30 + i))
    }
  }

  func testRowRangesNotOnTileBoundaries() {
    let t = Case(cin: 16, cout: 32, height: 23, width: 10, epilogue: .leakyRelu)
    check(t, seed: 40, splits: [0..<5, 5..<6, 6..<13, 13..<23])
    check(t, seed: 41, splits: (0..<23).map { $0..<($0 + 1) })
    check(t, seed: 42, splits: [0..<4, 4..<8, 8..<12, 12..<16, 16..<20, 20..<23])
  }

  func testOutputChannelSlice() {
    check(
      Case(cin: 16, cout: 20, height: 7, width: 9, epilogue: .relu), seed: 50, outputPixelStride: 48,
      outputChannelOffset: 8)
  }

  /// A wide map whose tiles across are handled in several chunks (more than fit the L2 budget).
  func testChunkedRows() {
    let layout = WinogradLayout(inputChannels: 64, outputChannels: 216)
    XCTAssertLessThan(layout.chunkTiles(width: 180), WinogradLayout.tilesAcross(width: 180))
    check(Case(cin: 64, cout: 216, height: 4, width: 180), seed: 60)
  }

  /// fp16 maps (fp16 storage): the reference runs on the same fp16-rounded inputs; the bound
  /// adds half an fp16 ulp of the result (the output rounding).
  func testFloat16Maps() {
    let cin = 32
    let cout = 24
    let height = 9
    let width = 11
    var rng = TestRandom(seed: 70)
    let input = rng.array(cin * height * width).map { Float(Float16($0)) }
    let weights = rng.array(cout * cin * 9, -0.3, 0.3)
    let bias = rng.array(cout, -0.5, 0.5)
    let inRow = (width + 2) * cin
    var inStorage = [Float16](repeating: 0, count: (height + 2) * inRow)
    for c in 0..<cin {
      for y in 0..<height {
        for x in 0..<width {
          inStorage[(y + 1) * inRow + (x + 1) * cin + c] = Float16(input[(c * height + y) * width + x])
        }
      }
    }
    var outStorage = [Float16](repeating: 0, count: height * width * cout)
    let layout = WinogradLayout(inputChannels: cin, outputChannels: cout)
    var packed = [Float](repeating: 0, count: layout.packedWeightCount)
    var zeros = [Float](repeating: 0, count: layout.paddedOutputChannels)
    let paddedBias = (0..<layout.paddedOutputChannels).map { $0 < cout ? bias[$0] : 0 }
    var scratch = [Float](repeating: 0, count: layout.scratchCount(width: width))
    weights.withUnsafeBufferPointer { w in
      packed.withUnsafeMutableBufferPointer { p in
        zeros.withUnsafeMutableBufferPointer { z in
          layout.pack(weights: w.baseAddress!, into: p.baseAddress!, zeros: z.baseAddress!)
        }
      }
    }
    inStorage.withUnsafeMutableBufferPointer { inp in
      outStorage.withUnsafeMutableBufferPointer { out in
        packed.withUnsafeBufferPointer { p in
          zeros.withUnsafeBufferPointer { z in
            paddedBias.withUnsafeBufferPointer { b in
              scratch.withUnsafeMutableBufferPointer { s in
                let inMap = FeatureMapF16(
                  base: inp.baseAddress! + inRow + cin, height: height, width: width, channels: cin,
                  pixelStride: cin, rowStride: inRow)
                let outMap = FeatureMapF16(
                  base: out.baseAddress!, height: height, width: width, channels: cout, pixelStride: cout,
                  rowStride: width * cout)
                let w = WinogradWeights(
                  layout: layout, weights: p.baseAddress!, bias: b.baseAddress!, zeros: z.baseAddress!)
                conv3x3Winograd(
                  input: AnyFeatureMap(inMap), weights: w, output: AnyFeatureMap(outMap), epilogue: .leakyRelu,
                  residual: nil, rows: 0..<height, scratch: s.baseAddress!)
              }
            }
          }
        }
      }
    }
    let (want, magnitude) = Reference.conv(
      input: input, cin: cin, height: height, width: width, weights: weights, bias: bias, cout: cout, kernel: 3,
      stride: 1)
    var worst = 0.0
    for c in 0..<cout {
      for i in 0..<(height * width) {
        let expected = Reference.leaky(want[c * height * width + i])
        let got = Double(outStorage[i * cout + c])
        let allowed = Self.bound * magnitude[c * height * width + i] + abs(expected) * 0x1p-11
        worst = max(worst, abs(got - expected) / allowed)
      }
    }
    XCTAssertLessThanOrEqual(worst, 1, "fp16 maps: error \(worst) of the bound")
  }

  /// The runtime's fp32 transform of the packed 3x3 weights against the Double one of `pack`:
  /// within 4 fp32 ulps of the largest transformed weight.
  func testTransformOfPackedWeights() {
    for (cin, cout) in [(16, 16), (32, 72), (64, 216), (48, 3)] {
      var rng = TestRandom(seed: UInt64(90 + cin))
      let weights = rng.array(cout * cin * 9, -0.3, 0.3)
      let bias = rng.array(cout)
      let direct = TestWeights(oihw: weights, bias: bias, cout: cout, cin: cin, taps: 9)
      let layout = WinogradLayout(inputChannels: cin, outputChannels: cout)
      var want = [Float](repeating: 0, count: layout.packedWeightCount)
      var got = [Float](repeating: .nan, count: layout.packedWeightCount)
      var zeros = [Float](repeating: 1, count: layout.paddedOutputChannels)
      weights.withUnsafeBufferPointer { w in
        want.withUnsafeMutableBufferPointer { p in
          zeros.withUnsafeMutableBufferPointer { z in
            layout.pack(weights: w.baseAddress!, into: p.baseAddress!, zeros: z.baseAddress!)
          }
        }
      }
      XCTAssertTrue(zeros.allSatisfy { $0 == 0 })
      got.withUnsafeMutableBufferPointer { g in
        // In two channel ranges, as a pool splits them.
        for channels in [0..<(cin / 3), (cin / 3)..<cin] {
          winogradTransformWeights(direct.packed, layout: layout, into: g.baseAddress!, channels: channels)
        }
      }
      let largest = want.map(abs).max() ?? 0
      var worst: Float = 0
      for i in want.indices { worst = max(worst, abs(got[i] - want[i])) }
      XCTAssertLessThanOrEqual(worst, 4 * largest.ulp, "\(cin)->\(cout): transform differs by \(worst)")
    }
  }

  /// The measured error on the network's main shape (printed; the bound is asserted).
  func testErrorFigure() {
    let err = check(Case(cin: 64, cout: 64, height: 12, width: 16, epilogue: .none), seed: 80)
    print("Winograd F(4,3) scaled error, 64->64: \(err)")
  }
}
