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
