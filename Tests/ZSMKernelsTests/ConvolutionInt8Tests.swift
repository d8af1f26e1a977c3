import XCTest
import ZSMKernels

#if ZSM_INT8
  import ZSMKernelsInt8
#endif

/// int8 3x3 convolution (the build's backend: AVX-512 VNNI `vpdpbusd`, AVX2 `vpmaddwd`, or on
/// aarch64 `conv3x3Int8Dot`: `sdot` or 16-bit multiply-adds on codes staged signed)
/// against the Double reference of the *dequantised* inputs and weights: the integer products
/// and sums are exact in both, so the bound is 1e-5 of the summation magnitude (the fp32
/// dequantisation and bias). A saturating 16-bit step (as `vpmaddubsw`'s would be on codes of
/// 255 against weights of 127) would be off by thousands of codes: `testExtremeCodesAreExact`.
final class ConvolutionInt8Tests: XCTestCase {
  #if ZSM_INT8
    /// `codes` and `weightValues`, when given, replace the random activation codes and weights.
    func check(
      cin: Int, cout: Int, height: Int, width: Int, stride: Int, epilogue: Epilogue, seed: UInt64,
      codes: [UInt8]? = nil, weightValues: [Float]? = nil
    ) {
      var rng = TestRandom(seed: seed)
      let activationScale: Float = 1.0 / 127
      let raw = rng.array(cin * height * width)
      let q = codes ?? raw.map { UInt8(max(0, min(255, ($0 / activationScale).rounded() + 128))) }
      let input = q.map { (Float($0) - 128) * activationScale }
      let weights = weightValues ?? rng.array(cout * cin * 9, -0.3, 0.3)
      let bias = rng.array(cout, -0.5, 0.5)
      // The weights the kernel really uses: per-output-channel symmetric int8.
      var dequantised = weights
      for o in 0..<cout {
        let slice = weights[(o * cin * 9)..<((o + 1) * cin * 9)]
        let scale = (slice.map(abs).max() ?? 0) / 127
        for i in 0..<(cin * 9) {
          let w = weights[o * cin * 9 + i]
          dequantised[o * cin * 9 + i] = max(-127, min(127, (w / scale).rounded())) * scale
        }
      }
      let inRow = (width + 2) * cin
      var inStorage = [Int8Activation](repeating: int8Staged(code: 128), count: (height + 2) * inRow)
      for c in 0..<cin {
        for y in 0..<height {
          for x in 0..<width {
            inStorage[(y + 1) * inRow + (x + 1) * cin + c] = int8Staged(code: Int32(q[(c * height + y) * width + x]))
          }
        }
      }
      let oh = (height + stride - 1) / stride
      let ow = (width + stride - 1) / stride
      let out = TestMap(height: oh, width: ow, channels: cout, halo: 0)
      let sizes = Int8ConvWeights.storage(inputChannels: cin, outputChannels: cout)
      var packedWeights = [Int8](repeating: 0, count: sizes.weightBytes)
      var correction = [Int32](repeating: 0, count: sizes.perChannel)
      var outputScale = [Float](repeating: 0, count: sizes.perChannel)
      var packedBias = [Float](repeating: 0, count: sizes.perChannel)
      inStorage.withUnsafeMutableBufferPointer { inp in
        packedWeights.withUnsafeMutableBufferPointer { pw in
          correction.withUnsafeMutableBufferPointer { pc in
            outputScale.withUnsafeMutableBufferPointer { ps in
              packedBias.withUnsafeMutableBufferPointer { pb in
                let w = weights.withUnsafeBufferPointer { wp in
                  bias.withUnsafeBufferPointer { bp in
                    Int8ConvWeights.pack(
                      weights: wp.baseAddress!, bias: bp.baseAddress!, inputChannels: cin, outputChannels: cout,
                      activationScale: activationScale, into: pw.baseAddress!, correction: pc.baseAddress!,
                      outputScale: ps.baseAddress!, bias: pb.baseAddress!)
                  }
                }
                let map = Int8ActivationMap(
                  base: inp.baseAddress! + inRow + cin, height: height, width: width, channels: cin, pixelStride: cin,
                  rowStride: inRow)
                for rows in [0..<(oh / 2), (oh / 2)..<oh] {
                  conv3x3Int8(input: map, weights: w, output: out.map, stride: stride, epilogue: epilogue, rows: rows)
                }
              }
            }
          }
        }
      }
      var (want, magnitude) = Reference.conv(
        input: input, cin: cin, height: height, width: width, weights: dequantised, bias: bias, cout: cout, kernel: 3,
        stride: stride)
      if epilogue == .leakyRelu { want = want.map(Reference.leaky) }
      if epilogue == .relu { want = want.map { max(0, $0) } }
      let err = maxScaledError(out.nchw(), want, scale: magnitude)
      XCTAssertLessThan(err, 1e-5, "\(cin)->\(cout) \(width)x\(height)/\(stride): \(err)")
    }

    /// The network's form: fp32 rows quantised per thread with a calibrated scale and zero
    /// point (not 128), output channels that are not whole 64-blocks (padded in the packing),
    /// written into a channel slice, with the residual add fused; against the Double reference
    /// of the same quantised values.
    func checkStaged(cin: Int, cout: Int, height: Int, width: Int, stride: Int, epilogue: Epilogue, seed: UInt64) {
      var rng = TestRandom(seed: seed)
      let (scale, zeroPoint): (Float, Int32) = (1.0 / 90, 37)
      let raw = rng.array(cin * height * width, -0.45, 2.3)
      // As the kernel quantises: x * (1/scale) + zp, clamped, rounded half to even.
      let inverse = 1 / scale
      let q = raw.map { x -> Float in
        let v = x * inverse + Float(zeroPoint)
        return (v > 0 ? (v < 255 ? v : 255) : 0).rounded(.toNearestOrEven)
      }
      let input = q.map { ($0 - Float(zeroPoint)) * scale }
      let weights = rng.array(cout * cin * 9, -0.3, 0.3)
      let bias = rng.array(cout, -0.5, 0.5)
      var dequantised = weights
      for o in 0..<cout {
        let slice = weights[(o * cin * 9)..<((o + 1) * cin * 9)]
        let s = (slice.map(abs).max() ?? 0) / 127
        for i in 0..<(cin * 9) {
          dequantised[o * cin * 9 + i] = max(-127, min(127, (weights[o * cin * 9 + i] / s).rounded())) * s
        }
      }
      let inMap = TestMap(height: height, width: width, channels: cin)
      inMap.load(nchw: raw)
      let oh = (height + stride - 1) / stride
      let ow = (width + stride - 1) / stride
      let out = TestMap(height: oh, width: ow, channels: cout, halo: 0, pixelStride: cout + 5)
      let residual = rng.array(cout * oh * ow)
      if epilogue == .residual { out.load(nchw: residual) }
      let sizes = Int8ConvWeights.storage(inputChannels: cin, outputChannels: cout)
      var packedWeights = [Int8](repeating: 0, count: sizes.weightBytes)
      var correction = [Int32](repeating: 0, count: sizes.perChannel)
      var outputScale = [Float](repeating: 0, count: sizes.perChannel)
      var packedBias = [Float](repeating: 0, count: sizes.perChannel)
      packedWeights.withUnsafeMutableBufferPointer { pw in
        correction.withUnsafeMutableBufferPointer { pc in
          outputScale.withUnsafeMutableBufferPointer { ps in
            packedBias.withUnsafeMutableBufferPointer { pb in
              let w = weights.withUnsafeBufferPointer { wp in
                bias.withUnsafeBufferPointer { bp in
                  Int8ConvWeights.pack(
                    weights: wp.baseAddress!, bias: bp.baseAddress!, inputChannels: cin, outputChannels: cout,
                    activationScale: scale, zeroPoint: zeroPoint, into: pw.baseAddress!, correction: pc.baseAddress!,
                    outputScale: ps.baseAddress!, bias: pb.baseAddress!)
                }
              }
              let bytes = int8StagingBytes(weights: w, inputWidth: width, outputWidth: ow)
              let scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
              defer { scratch.deallocate() }
              for rows in [0..<(oh / 2), (oh / 2)..<oh] {
                conv3x3Int8Staged(
                  input: inMap.map, weights: w, output: out.map, stride: stride, epilogue: epilogue,
                  residual: epilogue == .residual ? out.map : nil, rows: rows, scratch: scratch)
              }
            }
          }
        }
      }
      var (want, magnitude) = Reference.conv(
        input: input, cin: cin, height: height, width: width, weights: dequantised, bias: bias, cout: cout, kernel: 3,
        stride: stride)
      for i in want.indices {
        switch epilogue {
        case .leakyRelu: want[i] = Reference.leaky(want[i])
        case .relu: want[i] = max(0, want[i])
        case .residual:
          want[i] += Double(residual[i])
          magnitude[i] += abs(Double(residual[i]))
        case .none: break
        }
      }
      let err = maxScaledError(out.nchw(), want, scale: magnitude)
      XCTAssertLessThan(err, 1e-5, "staged \(cin)->\(cout) \(width)x\(height)/\(stride) \(epilogue): \(err)")
    }

    func testStagedMatchesTheDequantisedReference() {
      checkStaged(cin: 16, cout: 24, height: 5, width: 9, stride: 1, epilogue: .residual, seed: 4)
      checkStaged(cin: 8, cout: 64, height: 7, width: 11, stride: 2, epilogue: .leakyRelu, seed: 5)
      checkStaged(cin: 32, cout: 100, height: 4, width: 7, stride: 1, epilogue: .relu, seed: 6)
      checkStaged(cin: 64, cout: 64, height: 3, width: 13, stride: 1, epilogue: .residual, seed: 7)
      // More output rows per call than the staging buffer holds input rows: the rows still
      // needed move to its front (stride 1: two, stride 2: one), several times per call.
      checkStaged(cin: 16, cout: 64, height: 29, width: 6, stride: 1, epilogue: .residual, seed: 8)
      checkStaged(cin: 8, cout: 24, height: 27, width: 5, stride: 2, epilogue: .leakyRelu, seed: 9)
    }

    func testMatchesTheDequantisedReference() {
      check(cin: 64, cout: 64, height: 5, width: 9, stride: 1, epilogue: .leakyRelu, seed: 1)
      check(cin: 16, cout: 128, height: 4, width: 13, stride: 1, epilogue: .none, seed: 2)
      check(cin: 8, cout: 64, height: 7, width: 11, stride: 2, epilogue: .relu, seed: 3)
    }

    /// Codes of 255 (and 0) against weights that all quantise to +127 or -127: the sums a
    /// 16-bit pair step saturates (2 x 255 x 127 = 64770 > 32767) must come out exact.
    func testExtremeCodesAreExact() {
      let (cin, cout, height, width) = (64, 64, 4, 7)
      // All weights of an output channel of equal magnitude: every one quantises to +-127.
      var weights = [Float](repeating: 0, count: cout * cin * 9)
      for o in 0..<cout {
        for i in 0..<(cin * 9) {
          let sign: Float =
            switch o % 4 {
            case 0: 1
            case 1: -1
            case 2: i % 2 == 0 ? 1 : -1
            default: (i / 9) % 3 == 0 ? -1 : 1
            }
          weights[o * cin * 9 + i] = 0.25 * sign
        }
      }
      let allHigh = [UInt8](repeating: 255, count: cin * height * width)
      let mixed = (0..<(cin * height * width)).map { i -> UInt8 in i % 5 == 0 ? 0 : 255 }
      for (seed, codes) in [(UInt64(8), allHigh), (9, mixed)] {
        for epilogue in [Epilogue.none, .leakyRelu] {
          check(
            cin: cin, cout: cout, height: height, width: width, stride: 1, epilogue: epilogue, seed: seed,
            codes: codes, weightValues: weights)
        }
      }
    }
  #else
    /// Builds without CPU flags (generic x86-64) have no int8 kernels (ZSMKernelsInt8 needs at
    /// least AVX2 on x86); `Int8RefusalTests` checks that they refuse int8 with a clear error.
    static let skipReason =
      "skipped: this build has no int8 kernels (ZSMKernelsInt8 is built for aarch64 and x86 CPUs with AVX2 or later)"

    func testStagedMatchesTheDequantisedReference() throws { throw XCTSkip(Self.skipReason) }

    func testMatchesTheDequantisedReference() throws { throw XCTSkip(Self.skipReason) }

    func testExtremeCodesAreExact() throws { throw XCTSkip(Self.skipReason) }
  #endif
}
