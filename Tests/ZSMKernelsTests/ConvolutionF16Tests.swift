import XCTest
import ZSMKernels

/// fp16-storage 3x3 convolution against the Double reference computed on the same
/// fp16-rounded inputs and weights. Bound per value: 1e-5 of the summation magnitude (fp32
/// arithmetic) plus half an fp16 ulp of the result (2^-11 relative, the output rounding).
final class ConvolutionF16Tests: XCTestCase {
  /// `[C][H][W]` values as a channels-last fp16 map with a one-pixel zero halo: rows of
  /// `(width + 2) * cin` halves, pixel (y, x) at row y + 1, column x + 1.
  static func halfInput(_ input: [Float], cin: Int, height: Int, width: Int) -> [Float16] {
    let inRow = (width + 2) * cin
    var storage = [Float16](repeating: 0, count: (height + 2) * inRow)
    for c in 0..<cin {
      for y in 0..<height {
        for x in 0..<width {
          storage[(y + 1) * inRow + (x + 1) * cin + c] = Float16(input[(c * height + y) * width + x])
        }
      }
    }
    return storage
  }

  func check(cin: Int, cout: Int, height: Int, width: Int, stride: Int, epilogue: Epilogue, seed: UInt64) {
    var rng = TestRandom(seed: seed)
    let input = rng.array(cin * height * width).map { Float(Float16($0)) }
    let weights = rng.array(cout * cin * 9, -0.3, 0.3).map { Float(Float16($0)) }
    let bias = rng.array(cout, -0.5, 0.5)
    let oh = (height + stride - 1) / stride
    let ow = (width + stride - 1) / stride
    let inRow = (width + 2) * cin
    var inStorage = Self.halfInput(input, cin: cin, height: height, width: width)
    let residual = rng.array(cout * oh * ow).map { Float(Float16($0)) }
    var outStorage = [Float16](repeating: 0, count: oh * ow * cout)
    if epilogue == .residual {
      for c in 0..<cout { for i in 0..<(oh * ow) { outStorage[i * cout + c] = Float16(residual[c * oh * ow + i]) } }
    }
    let packed = TestWeights(oihw: weights, bias: bias, cout: cout, cin: cin, taps: 9)
    var halfWeights = (0..<packed.layout.packedWeightCount).map { Float16(packed.weights[$0]) }
    let scratch = UnsafeMutablePointer<Float>.allocate(
      capacity: conv3x3F16ScratchCount(layout: packed.layout, inputWidth: width, outputWidth: ow))
    defer { scratch.deallocate() }
    inStorage.withUnsafeMutableBufferPointer { inp in
      outStorage.withUnsafeMutableBufferPointer { out in
        halfWeights.withUnsafeMutableBufferPointer { w in
          let inMap = FeatureMapF16(
            base: inp.baseAddress! + inRow + cin, height: height, width: width, channels: cin, pixelStride: cin,
            rowStride: inRow)
          let outMap = FeatureMapF16(
            base: out.baseAddress!, height: oh, width: ow, channels: cout, pixelStride: cout, rowStride: ow * cout)
          let pw = PackedConvWeightsF16(layout: packed.layout, weights: w.baseAddress!, bias: packed.bias)
          for rows in [0..<(oh / 2), (oh / 2)..<oh] {
            conv3x3F16(
              input: inMap, weights: pw, output: outMap, stride: stride, epilogue: epilogue,
              residual: epilogue == .residual ? outMap : nil, rows: rows, scratch: scratch)
          }
        }
      }
    }
    var (want, magnitude) = Reference.conv(
      input: input, cin: cin, height: height, width: width, weights: weights, bias: bias, cout: cout, kernel: 3,
      stride: stride)
    for i in want.indices {
      switch epilogue {
      case .relu: want[i] = max(0, want[i])
      case .leakyRelu: want[i] = Reference.leaky(want[i])
      case .residual:
        want[i] += Double(residual[i])
        magnitude[i] += abs(Double(residual[i]))
      case .none: break
      }
    }
    for c in 0..<cout {
      for i in 0..<(oh * ow) {
        let got = Double(Float(outStorage[i * cout + c]))
        let w = want[c * oh * ow + i]
        let bound = 1e-5 * magnitude[c * oh * ow + i] + abs(w) * 0x1p-11 + 1e-7
        XCTAssertLessThanOrEqual(abs(got - w), bound, "C\(cin)->\(cout) \(width)x\(height)/\(stride) (\(c), \(i))")
      }
    }
  }

  func testMatchesTheReferenceOnFP16Values() {
    check(cin: 64, cout: 64, height: 5, width: 9, stride: 1, epilogue: .leakyRelu, seed: 1)
    check(cin: 16, cout: 40, height: 6, width: 13, stride: 1, epilogue: .residual, seed: 2)
    check(cin: 8, cout: 16, height: 7, width: 9, stride: 2, epilogue: .relu, seed: 3)
    check(cin: 3, cout: 24, height: 4, width: 5, stride: 1, epilogue: .none, seed: 4)
  }

  /// `conv3x3F16Arith` into an fp32 map (the offsets and mask) is the fp16-output kernel with
  /// the final rounding left out: every fp32 result rounds to exactly the fp16 result, and
  /// both are within 8 u (u = 2^-11) of the summation magnitude of the Double reference (the
  /// kernel's bound, Tests/ARM64/selftest.c: at most 1.7 u measured).
  func testFP16ArithmeticIntoFP32() throws {
    #if arch(arm64)
      for (cin, cout, width, stride, seed) in [(16, 54, 11, 1, UInt64(5)), (32, 16, 13, 1, 6), (16, 20, 9, 2, 7)] {
        let height = 5
        var rng = TestRandom(seed: seed)
        let input = rng.array(cin * height * width).map { Float(Float16($0)) }
        let weights = rng.array(cout * cin * 9, -0.3, 0.3).map { Float(Float16($0)) }
        let bias = rng.array(cout, -0.5, 0.5)
        let oh = (height + stride - 1) / stride
        let ow = (width + stride - 1) / stride
        let inRow = (width + 2) * cin
        var inStorage = Self.halfInput(input, cin: cin, height: height, width: width)
        let packed = TestWeights(oihw: weights, bias: bias, cout: cout, cin: cin, taps: 9)
        var halfWeights = (0..<packed.layout.packedWeightCount).map { Float16(packed.weights[$0]) }
        var half = [Float16](repeating: .nan, count: oh * ow * cout)
        var single = [Float](repeating: .nan, count: oh * ow * cout)
        inStorage.withUnsafeMutableBufferPointer { inp in
          halfWeights.withUnsafeMutableBufferPointer { w in
            let inMap = FeatureMapF16(
              base: inp.baseAddress! + inRow + cin, height: height, width: width, channels: cin, pixelStride: cin,
              rowStride: inRow)
            let pw = PackedConvWeightsF16(layout: packed.layout, weights: w.baseAddress!, bias: packed.bias)
            half.withUnsafeMutableBufferPointer { out in
              let m = FeatureMapF16(
                base: out.baseAddress!, height: oh, width: ow, channels: cout, pixelStride: cout, rowStride: ow * cout)
              conv3x3F16Arith(input: inMap, weights: pw, output: m, stride: stride, epilogue: .leakyRelu, rows: 0..<oh)
            }
            single.withUnsafeMutableBufferPointer { out in
              let m = FeatureMap(
                base: out.baseAddress!, height: oh, width: ow, channels: cout, pixelStride: cout, rowStride: ow * cout)
              for rows in [0..<(oh / 2), (oh / 2)..<oh] {
                conv3x3F16Arith(input: inMap, weights: pw, output: m, stride: stride, epilogue: .leakyRelu, rows: rows)
              }
            }
          }
        }
        let (want, magnitude) = Reference.conv(
          input: input, cin: cin, height: height, width: width, weights: weights, bias: bias, cout: cout, kernel: 3,
          stride: stride)
        for c in 0..<cout {
          for i in 0..<(oh * ow) {
            let got = single[i * cout + c]
            XCTAssertEqual(Float16(got), half[i * cout + c], "C\(cin)->\(cout)/\(stride) (\(c), \(i))")
            let w = Reference.leaky(want[c * oh * ow + i])
            let bound = 8 * 0x1p-11 * magnitude[c * oh * ow + i] + 1e-6
            XCTAssertLessThanOrEqual(abs(Double(got) - w), bound, "C\(cin)->\(cout)/\(stride) (\(c), \(i))")
          }
        }
      }
    #else
      throw XCTSkip(
        "skipped: the fp16-arithmetic kernels exist on arm64 only (Tests/ARM64/package.sh runs this as a Cortex-A76)")
    #endif
  }
}
