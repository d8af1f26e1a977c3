import XCTest
import ZSMKernels

/// 3x3 and 1x1 convolutions against the Double reference. Bound: every output within 1e-5 of
/// the magnitude it was summed from (|bias| + sum |w*x|), i.e. 1e-5 relative fp32 accuracy.
final class ConvolutionTests: XCTestCase {
  struct Case {
    var cin: Int
    var cout: Int
    var height: Int
    var width: Int
    var stride = 1
    var kernel = 3
    var epilogue: Epilogue = .none
  }

  func check(_ t: Case, seed: UInt64, outputPixelStride: Int? = nil, outputChannelOffset: Int = 0) {
    var rng = TestRandom(seed: seed)
    let input = rng.array(t.cin * t.height * t.width)
    let weights = rng.array(t.cout * t.cin * t.kernel * t.kernel, -0.3, 0.3)
    let bias = rng.array(t.cout, -0.5, 0.5)
    let inMap = TestMap(height: t.height, width: t.width, channels: t.cin, halo: t.kernel == 3 ? 1 : 0)
    inMap.load(nchw: input)
    let oh = (t.height + t.stride - 1) / t.stride
    let ow = (t.width + t.stride - 1) / t.stride
    let stride = outputPixelStride ?? t.cout
    let sentinel: Float = 12345
    let outStorage = TestMap(height: oh, width: ow, channels: stride, halo: 0, fill: sentinel)
    let outMap = outStorage.map.channelSlice(outputChannelOffset, t.cout)
    var residual: [Float] = []
    if t.epilogue == .residual {
      residual = rng.array(t.cout * oh * ow)
      for c in 0..<t.cout {
        for y in 0..<oh { for x in 0..<ow { outMap.pixel(y, x)[c] = residual[(c * oh + y) * ow + x] } }
      }
    }
    let packed = TestWeights(oihw: weights, bias: bias, cout: t.cout, cin: t.cin, taps: t.kernel * t.kernel)
    // Two row ranges, as a worker pool would split them.
    let split = oh / 2
    for rows in [0..<split, split..<oh] {
      if t.kernel == 3 {
        conv3x3(
          input: inMap.map, weights: packed.packed, output: outMap, stride: t.stride, epilogue: t.epilogue,
          residual: t.epilogue == .residual ? outMap : nil, rows: rows)
      } else {
        conv1x1(
          input: inMap.map, weights: packed.packed, output: outMap, epilogue: t.epilogue,
          residual: t.epilogue == .residual ? outMap : nil, rows: rows)
      }
    }
    var (want, magnitude) = Reference.conv(
      input: input, cin: t.cin, height: t.height, width: t.width, weights: weights, bias: bias, cout: t.cout,
      kernel: t.kernel, stride: t.stride)
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
    var got = [Float](repeating: 0, count: t.cout * oh * ow)
    for c in 0..<t.cout { for y in 0..<oh { for x in 0..<ow { got[(c * oh + y) * ow + x] = outMap.pixel(y, x)[c] } } }
    let err = maxScaledError(got, want, scale: magnitude)
    XCTAssertLessThan(err, 1e-5, "\(t): scaled error \(err)")
    // Channels outside the output slice are untouched.
    if stride > t.cout {
      for y in 0..<oh {
        for x in 0..<ow {
          let p = outStorage.map.pixel(y, x)
          for c in 0..<stride where c < outputChannelOffset || c >= outputChannelOffset + t.cout {
            XCTAssertEqual(p[c], sentinel, "\(t): wrote channel \(c) outside its slice")
          }
        }
      }
    }
  }

  func testStride1FullBlocksAllEpilogues() {
    for (i, e) in [Epilogue.none, .relu, .leakyRelu, .residual].enumerated() {
      check(Case(cin: 64, cout: 64, height: 5, width: 9, epilogue: e), seed: UInt64(10 + i))
    }
  }

  func testWidthBelowAndAtTile() {
    // Tile widths are 6 (64 channels) and 12 (32/16 channels): widths 1...13 cover every tail kernel.
    for w in [1, 5, 6, 7, 11, 12, 13] {
      check(Case(cin: 16, cout: 64, height: 3, width: w), seed: UInt64(w))
      check(Case(cin: 16, cout: 32, height: 2, width: w), seed: UInt64(100 + w))
      check(Case(cin: 16, cout: 16, height: 2, width: w), seed: UInt64(200 + w))
    }
  }

  func testChannelsNotMultipleOfVector() {
    check(Case(cin: 3, cout: 64, height: 7, width: 5, epilogue: .leakyRelu), seed: 1)  // conv_first
    check(Case(cin: 64, cout: 3, height: 4, width: 7), seed: 2)  // conv_last
    check(Case(cin: 17, cout: 40, height: 5, width: 6, epilogue: .relu), seed: 3)  // 32 + 16 blocks, 8 valid
    check(Case(cin: 8, cout: 8, height: 5, width: 13, epilogue: .residual), seed: 4)
    check(Case(cin: 64, cout: 216, height: 3, width: 5), seed: 5)  // offset/mask predictor
    check(Case(cin: 64, cout: 256, height: 3, width: 7), seed: 6)  // upconv
    check(Case(cin: 128, cout: 64, height: 3, width: 14), seed: 7)  // 2C -> C
  }

  func testStride2EvenAndOddSizes() {
    check(Case(cin: 64, cout: 64, height: 8, width: 12, stride: 2, epilogue: .leakyRelu), seed: 20)
    check(Case(cin: 8, cout: 8, height: 7, width: 9, stride: 2, epilogue: .leakyRelu), seed: 21)
    check(Case(cin: 5, cout: 20, height: 5, width: 3, stride: 2), seed: 22)
  }

  func testWritesIntoAChannelSliceOnly() {
    // [a ‖ b] concatenation by layout: write 8 channels at offset 8 of a 24-channel buffer.
    check(
      Case(cin: 8, cout: 8, height: 4, width: 7, epilogue: .leakyRelu), seed: 30, outputPixelStride: 24,
      outputChannelOffset: 8)
    check(Case(cin: 16, cout: 64, height: 3, width: 8), seed: 31, outputPixelStride: 128, outputChannelOffset: 64)
  }

  func testPointwise1x1() {
    check(Case(cin: 128, cout: 64, height: 3, width: 5, kernel: 1), seed: 40)
    check(Case(cin: 16, cout: 8, height: 4, width: 13, kernel: 1, epilogue: .leakyRelu), seed: 41)
    check(Case(cin: 7, cout: 3, height: 2, width: 3, kernel: 1, epilogue: .residual), seed: 42)
  }
}
