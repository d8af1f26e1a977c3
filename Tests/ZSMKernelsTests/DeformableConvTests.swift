import XCTest
import ZSMKernels

/// The tile-based DCNv2 sampler against the Double reference of docs/architecture.md §4, with
/// offsets large enough that many taps fall outside the image. Bound as for convolutions:
/// 1e-5 of the summation magnitude.
final class DeformableConvTests: XCTestCase {
  func check(
    channels: Int, groups: Int, cout: Int, height: Int, width: Int, offsetScale: Float, tile: Int,
    epilogue: Epilogue = .none, seed: UInt64, offsets fixedOffsets: [Float]? = nil
  ) {
    var rng = TestRandom(seed: seed)
    let input = rng.array(channels * height * width)
    let omChannels = 27 * groups
    var om = rng.array(omChannels * height * width, -offsetScale, offsetScale)
    // Mask logits in [-4, 4].
    for i in (18 * groups * height * width)..<om.count { om[i] = rng.uniform(-4, 4) }
    if let fixedOffsets { om = fixedOffsets }
    let weights = rng.array(cout * channels * 9, -0.3, 0.3)
    let bias = rng.array(cout, -0.5, 0.5)
    let inMap = TestMap(height: height, width: width, channels: channels, halo: 0)
    inMap.load(nchw: input)
    let omMap = TestMap(height: height, width: width, channels: omChannels, halo: 0)
    omMap.load(nchw: om)
    let outMap = TestMap(height: height, width: width, channels: cout, halo: 0, fill: 999)
    let packed = TestWeights(oihw: weights, bias: bias, cout: cout, cin: channels, taps: 9)
    let scratchCount = DeformableConv.scratchCount(inputChannels: channels, groups: groups, tilePixels: tile)
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
    defer { scratch.deallocate() }
    deformConv3x3(
      input: inMap.map, offsetsAndMask: omMap.map, groups: groups, weights: packed.packed, output: outMap.map,
      epilogue: epilogue, rows: 0..<height, scratch: scratch, tilePixels: tile)
    var (want, magnitude) = Reference.deformConv(
      input: input, channels: channels, height: height, width: width, offsetsAndMask: om, groups: groups,
      weights: weights, bias: bias, cout: cout)
    if epilogue == .leakyRelu { want = want.map(Reference.leaky) }
    magnitude = magnitude.map { max($0, 1e-3) }
    let err = maxScaledError(outMap.nchw(), want, scale: magnitude)
    XCTAssertLessThan(err, 1e-5, "C\(channels) G\(groups) \(width)x\(height) offsets ±\(offsetScale): \(err)")
  }

  /// `deformConv3x3F16Arith` between fp16 maps against the Double reference on the same
  /// fp16 values: bound 8 u of the summation magnitude (u = 2^-11: the samples rounded to fp16
  /// columns, 0.5 u, and conv3x3F16Arith's kernel-row sums, measured at most 1.7 u) plus the
  /// output's rounding (u of the value).
  func testFP16Arithmetic() throws {
    #if arch(arm64)
      for (channels, groups, cout, height, width, tile, seed) in [
        (16, 2, 16, 4, 11, 48, UInt64(20)), (16, 2, 20, 3, 13, 5, 21), (64, 8, 64, 3, 6, 48, 22),
        (12, 4, 20, 4, 7, 48, 23),
      ] {
        var rng = TestRandom(seed: seed)
        let input = rng.array(channels * height * width).map { Float(Float16($0)) }
        let omChannels = 27 * groups
        var om = rng.array(omChannels * height * width, -2.5, 2.5)
        for i in (18 * groups * height * width)..<om.count { om[i] = rng.uniform(-4, 4) }
        let weights = rng.array(cout * channels * 9, -0.3, 0.3).map { Float(Float16($0)) }
        let bias = rng.array(cout, -0.5, 0.5)
        let inMap = TestMap(height: height, width: width, channels: channels, halo: 0)
        inMap.load(nchw: input)
        let omMap = TestMap(height: height, width: width, channels: omChannels, halo: 0)
        omMap.load(nchw: om)
        let packed = TestWeights(oihw: weights, bias: bias, cout: cout, cin: channels, taps: 9)
        var halfWeights = (0..<packed.layout.packedWeightCount).map { Float16(packed.weights[$0]) }
        let scratch = UnsafeMutablePointer<Float>.allocate(
          capacity: DeformableConv.scratchCount(inputChannels: channels, groups: groups, tilePixels: tile))
        defer { scratch.deallocate() }
        let outMap = TestMap(height: height, width: width, channels: cout, halo: 0, fill: 999)
        outMap.withHalfMap { outHalf in
          inMap.withHalfMap { inHalf in
            halfWeights.withUnsafeMutableBufferPointer { w in
              let pw = PackedConvWeightsF16(layout: packed.layout, weights: w.baseAddress!, bias: packed.bias)
              for rows in [0..<1, 1..<height] {
                deformConv3x3F16Arith(
                  input: inHalf, offsetsAndMask: omMap.map, groups: groups, weights: pw, output: outHalf,
                  epilogue: .leakyRelu, rows: rows, scratch: scratch, tilePixels: tile)
              }
            }
          }
          for y in 0..<height {
            for x in 0..<width { for c in 0..<cout { outMap.map.pixel(y, x)[c] = Float(outHalf.pixel(y, x)[c]) } }
          }
        }
        let (want, magnitude) = Reference.deformConv(
          input: input, channels: channels, height: height, width: width, offsetsAndMask: om, groups: groups,
          weights: weights, bias: bias, cout: cout)
        let got = outMap.nchw()
        for i in got.indices {
          let w = Reference.leaky(want[i])
          let bound = 8 * 0x1p-11 * magnitude[i] + abs(w) * 0x1p-11 + 1e-6
          XCTAssertLessThanOrEqual(
            abs(Double(got[i]) - w), bound, "C\(channels) G\(groups) -> \(cout) tile \(tile): value \(i)")
        }
      }
    #else
      throw XCTSkip(
        "skipped: the fp16-arithmetic kernels exist on arm64 only (Tests/ARM64/package.sh runs this as a Cortex-A76)")
    #endif
  }

  func testNetworkShape64Channels8Groups() {
    check(channels: 64, groups: 8, cout: 64, height: 5, width: 9, offsetScale: 3, tile: 48, seed: 1)
  }

  func testOffsetsPushTapsOutside() {
    // ±12 px on a 7x6 map: most taps are partly or wholly outside.
    check(channels: 16, groups: 4, cout: 16, height: 6, width: 7, offsetScale: 12, tile: 48, seed: 2)
    check(channels: 8, groups: 1, cout: 24, height: 4, width: 5, offsetScale: 2.5, tile: 48, seed: 3)
  }

  func testGroupWidthsOtherThan8And16() {
    // 4 channels per group (the test fixtures), 3 per group, 32 per group.
    check(channels: 8, groups: 2, cout: 8, height: 5, width: 6, offsetScale: 2, tile: 48, seed: 4)
    check(channels: 12, groups: 4, cout: 20, height: 4, width: 7, offsetScale: 2, tile: 48, seed: 5)
    check(channels: 64, groups: 2, cout: 64, height: 3, width: 4, offsetScale: 2, tile: 48, seed: 6)
  }

  func testTilesSmallerThanTheRowAndEpilogue() {
    check(
      channels: 16, groups: 2, cout: 64, height: 3, width: 13, offsetScale: 2, tile: 5, epilogue: .leakyRelu,
      seed: 7)
    check(channels: 16, groups: 2, cout: 32, height: 2, width: 25, offsetScale: 1, tile: 12, seed: 8)
  }

  func testMapsOnePixelHighOrWide() {
    // The 2x2 window that the gather reads repeats the one row (column) there.
    check(channels: 16, groups: 2, cout: 16, height: 1, width: 9, offsetScale: 2, tile: 48, seed: 10)
    check(channels: 16, groups: 2, cout: 16, height: 7, width: 1, offsetScale: 2, tile: 48, seed: 11)
    check(channels: 8, groups: 1, cout: 8, height: 1, width: 1, offsetScale: 1.5, tile: 48, seed: 12)
    check(channels: 64, groups: 8, cout: 64, height: 2, width: 2, offsetScale: 2, tile: 48, seed: 13)
  }

  func testIntegerAndZeroOffsetsEqualAPlainMaskedConv() {
    // All offsets exactly 0 or integers (corners on the boundary lines, lambda = 0).
    var rng = TestRandom(seed: 9)
    let (h, w, g) = (5, 6, 2)
    var om = [Float](repeating: 0, count: 27 * g * h * w)
    for i in 0..<(18 * g * h * w) { om[i] = Float(Int(rng.uniform(-3, 3))) }
    for i in (18 * g * h * w)..<om.count { om[i] = rng.uniform(-2, 2) }
    check(channels: 8, groups: g, cout: 8, height: h, width: w, offsetScale: 0, tile: 48, seed: 9, offsets: om)
  }
}
