import XCTest
import ZSMKernels

/// The 3-output-channel 3x3 convolution (`conv3x3NarrowOutput`, the network's `conv_last`)
/// against the Double reference, with ConvolutionTests' bound: every output within 1e-5 of
/// the magnitude it was summed from (its horizontal sums only reorder the same products).
final class NarrowOutputConvTests: XCTestCase {
  func check(cin: Int, height: Int, width: Int, epilogue: Epilogue, outputPixelStride: Int = 3, seed: UInt64) {
    var rng = TestRandom(seed: seed)
    let input = rng.array(cin * height * width)
    let weights = rng.array(3 * cin * 9, -0.3, 0.3)
    let bias = rng.array(3, -0.5, 0.5)
    let inMap = TestMap(height: height, width: width, channels: cin, halo: 1)
    inMap.load(nchw: input)
    let sentinel: Float = 12345
    let outStorage = TestMap(height: height, width: width, channels: outputPixelStride, halo: 0, fill: sentinel)
    let outMap = outStorage.map.channelSlice(0, 3)
    var packed = [Float](repeating: .nan, count: NarrowOutputConv.weightCount(inputChannels: cin))
    weights.withUnsafeBufferPointer { w in
      packed.withUnsafeMutableBufferPointer { p in
        NarrowOutputConv.pack(weights: w.baseAddress!, inputChannels: cin, into: p.baseAddress!)
      }
    }
    // Two row ranges, as a worker pool would split them.
    for rows in [0..<height / 2, height / 2..<height] {
      packed.withUnsafeBufferPointer { p in
        bias.withUnsafeBufferPointer { b in
          conv3x3NarrowOutput(
            input: inMap.map, weights: p.baseAddress!, bias: b.baseAddress!, output: outMap, epilogue: epilogue,
            rows: rows)
        }
      }
    }
    let reference = Reference.conv(
      input: input, cin: cin, height: height, width: width, weights: weights, bias: bias, cout: 3, kernel: 3,
      stride: 1)
    var want = reference.value
    if epilogue == .leakyRelu { want = want.map(Reference.leaky) }
    if epilogue == .relu { want = want.map { max(0, $0) } }
    var got = [Float](repeating: 0, count: 3 * height * width)
    for c in 0..<3 {
      for y in 0..<height { for x in 0..<width { got[(c * height + y) * width + x] = outMap.pixel(y, x)[c] } }
    }
    let err = maxScaledError(got, want, scale: reference.magnitude)
    XCTAssertLessThan(err, 1e-5, "cin \(cin) \(width)x\(height) \(epilogue): scaled error \(err)")
    if outputPixelStride > 3 {
      for y in 0..<height {
        for x in 0..<width {
          for c in 3..<outputPixelStride {
            XCTAssertEqual(outStorage.map.pixel(y, x)[c], sentinel, "wrote channel \(c) outside the output")
          }
        }
      }
    }
  }

  func testTailWidths() {
    // Widths 1...9 cover the 4-pixel blocks and every remainder, edges included.
    for width in 1...9 { check(cin: 16, height: 3, width: width, epilogue: .none, seed: UInt64(width)) }
  }

  func testChannelBlocksAndEpilogues() {
    check(cin: 32, height: 5, width: 11, epilogue: .none, seed: 20)
    check(cin: 64, height: 4, width: 13, epilogue: .leakyRelu, seed: 21)
    check(cin: 16, height: 6, width: 7, epilogue: .relu, seed: 22)
  }

  func testWritesOnlyItsThreeChannels() {
    check(cin: 16, height: 4, width: 10, epilogue: .none, outputPixelStride: 16, seed: 23)
  }

  /// On an fp16 map (the tail's fp16 band) the kernel widens each input vector as it loads it
  /// and computes in fp32: bit for bit the fp32 kernel on the same (fp16-representable) values.
  func testFP16InputIsTheFP32KernelOnTheWidenedValues() {
    for (cin, width, seed) in [(16, 9, UInt64(30)), (32, 6, 31), (16, 2, 32)] {
      let height = 4
      var rng = TestRandom(seed: seed)
      let inMap = TestMap(height: height, width: width, channels: cin, halo: 1)
      inMap.load(nchw: rng.array(cin * height * width).map { Float(Float16($0)) })
      let weights = rng.array(3 * cin * 9, -0.3, 0.3)
      let bias = rng.array(3, -0.5, 0.5)
      var packed = [Float](repeating: .nan, count: NarrowOutputConv.weightCount(inputChannels: cin))
      weights.withUnsafeBufferPointer { w in
        packed.withUnsafeMutableBufferPointer { p in
          NarrowOutputConv.pack(weights: w.baseAddress!, inputChannels: cin, into: p.baseAddress!)
        }
      }
      let single = TestMap(height: height, width: width, channels: 3, halo: 0, fill: .nan)
      let half = TestMap(height: height, width: width, channels: 3, halo: 0, fill: .nan)
      packed.withUnsafeBufferPointer { p in
        bias.withUnsafeBufferPointer { b in
          conv3x3NarrowOutput(
            input: inMap.map, weights: p.baseAddress!, bias: b.baseAddress!, output: single.map,
            epilogue: .leakyRelu, rows: 0..<height)
          inMap.withHalfMap { h in
            for rows in [0..<1, 1..<height] {
              conv3x3NarrowOutput(
                input: h, weights: p.baseAddress!, bias: b.baseAddress!, output: half.map, epilogue: .leakyRelu,
                rows: rows)
            }
          }
        }
      }
      XCTAssertEqual(half.nchw(), single.nchw(), "cin \(cin) width \(width)")
      XCTAssertFalse(half.nchw().contains { $0.isNaN })
    }
  }

  /// `conv3x3NarrowOutputF16Arith` on fp16 values and weights against the Double reference:
  /// within 8 u (u = 2^-11) of the summation magnitude (each of the 8 lanes sums 9 x Cin / 8
  /// products in fp16, then the lanes are added in fp32).
  func testFP16Arithmetic() throws {
    #if arch(arm64)
      for (cin, width, seed) in [(16, 9, UInt64(40)), (64, 6, 41), (16, 3, 42)] {
        let height = 4
        var rng = TestRandom(seed: seed)
        let input = rng.array(cin * height * width).map { Float(Float16($0)) }
        let weights = rng.array(3 * cin * 9, -0.3, 0.3).map { Float(Float16($0)) }
        let bias = rng.array(3, -0.5, 0.5)
        let inMap = TestMap(height: height, width: width, channels: cin, halo: 1)
        inMap.load(nchw: input)
        var packed = [Float](repeating: .nan, count: NarrowOutputConv.weightCount(inputChannels: cin))
        weights.withUnsafeBufferPointer { w in
          packed.withUnsafeMutableBufferPointer { p in
            NarrowOutputConv.pack(weights: w.baseAddress!, inputChannels: cin, into: p.baseAddress!)
          }
        }
        let half = packed.map { Float16($0) }
        let outMap = TestMap(height: height, width: width, channels: 3, halo: 0, fill: .nan)
        half.withUnsafeBufferPointer { p in
          bias.withUnsafeBufferPointer { b in
            inMap.withHalfMap { h in
              for rows in [0..<1, 1..<height] {
                conv3x3NarrowOutputF16Arith(
                  input: h, weights: p.baseAddress!, bias: b.baseAddress!, output: outMap.map, epilogue: .leakyRelu,
                  rows: rows)
              }
            }
          }
        }
        let reference = Reference.conv(
          input: input, cin: cin, height: height, width: width, weights: weights, bias: bias, cout: 3, kernel: 3,
          stride: 1)
        let got = outMap.nchw()
        for i in got.indices {
          let w = Reference.leaky(reference.value[i])
          let bound = 8 * 0x1p-11 * reference.magnitude[i] + 1e-6
          XCTAssertLessThanOrEqual(abs(Double(got[i]) - w), bound, "cin \(cin) width \(width): value \(i)")
        }
      }
    #else
      throw XCTSkip(
        "skipped: the fp16-arithmetic kernels exist on arm64 only (Tests/ARM64/package.sh runs this as a Cortex-A76)")
    #endif
  }

  func testEligibility() {
    XCTAssertTrue(NarrowOutputConv.eligible(kernelSize: 3, stride: 1, inputChannels: 16, outputChannels: 3))
    XCTAssertTrue(NarrowOutputConv.eligible(kernelSize: 3, stride: 1, inputChannels: 64, outputChannels: 3))
    XCTAssertFalse(NarrowOutputConv.eligible(kernelSize: 3, stride: 1, inputChannels: 24, outputChannels: 3))
    XCTAssertFalse(NarrowOutputConv.eligible(kernelSize: 3, stride: 2, inputChannels: 16, outputChannels: 3))
    XCTAssertFalse(NarrowOutputConv.eligible(kernelSize: 3, stride: 1, inputChannels: 16, outputChannels: 4))
    XCTAssertFalse(NarrowOutputConv.eligible(kernelSize: 1, stride: 1, inputChannels: 16, outputChannels: 3))
  }
}
