import XCTest
import ZSMKernels

/// The kernels that take maps of either precision (`AnyFeatureMap`), against their fp32 forms
/// (tested against the Double reference elsewhere). On fp16-representable inputs the fp16
/// variants widen exactly, run the same fp32 arithmetic in the same order, and round once on
/// the way out, so the result must equal `Float16(fp32 result)` bit for bit: any staging,
/// addressing or conversion slip shows as a mismatch.
final class MixedPrecisionTests: XCTestCase {
  /// A TestMap's fp16 twin (same geometry and halo), filled from it.
  final class HalfMap {
    let source: TestMap
    let storage: UnsafeMutablePointer<Float16>

    init(_ m: TestMap) {
      source = m
      storage = .allocate(capacity: m.count)
      for i in 0..<m.count { storage[i] = Float16(m.storage[i]) }
    }

    deinit { storage.deallocate() }

    var map: AnyFeatureMap {
      let f = source.map
      let offset = f.base - source.storage
      return AnyFeatureMap(
        FeatureMapF16(
          base: storage + offset, height: f.height, width: f.width, channels: f.channels, pixelStride: f.pixelStride,
          rowStride: f.rowStride))
    }

    /// Interior values, `[C][H][W]`.
    func nchw() -> [Float16] {
      let m = map.float16
      var out: [Float16] = []
      for c in 0..<m.channels {
        for y in 0..<m.height { for x in 0..<m.width { out.append(m.pixel(y, x)[c]) } }
      }
      return out
    }
  }

  /// A map of fp16-representable values (so fp32 and fp16 copies hold the same numbers).
  func map(_ rng: inout TestRandom, _ c: Int, _ h: Int, _ w: Int, halo: Int = 1, pixelStride: Int? = nil) -> TestMap {
    let m = TestMap(height: h, width: w, channels: c, halo: halo, pixelStride: pixelStride)
    m.load(nchw: rng.array(c * h * w).map { Float(Float16($0)) })
    return m
  }

  func assertRounded(_ half: HalfMap, _ full: TestMap, _ what: String) {
    let got = half.nchw()
    let want = full.nchw()
    var mismatches = 0
    for i in got.indices where got[i].bitPattern != Float16(want[i]).bitPattern { mismatches += 1 }
    XCTAssertEqual(mismatches, 0, "\(what): \(mismatches) of \(got.count) values differ from Float16(fp32)")
  }

  func testStagedConvolutionsMatchFP32Rounded() {
    var rng = TestRandom(seed: 41)
    for (k, stride, cin, cout, epilogue) in [
      (3, 1, 16, 24, Epilogue.leakyRelu), (3, 2, 8, 16, .relu), (1, 1, 32, 40, .none), (3, 1, 16, 16, .residual),
    ] {
      let (h, w) = (7, 11)
      let (oh, ow) = ((h + stride - 1) / stride, (w + stride - 1) / stride)
      let input = map(&rng, cin, h, w, pixelStride: cin + 8)  // a channel slice of a wider tensor
      let weights = TestWeights(
        oihw: rng.array(cout * cin * k * k, -0.3, 0.3), bias: rng.array(cout, -0.5, 0.5), cout: cout, cin: cin,
        taps: k * k)
      let full = map(&rng, cout, oh, ow)
      let half = HalfMap(full)  // same residual values
      let scratch = UnsafeMutablePointer<Float>.allocate(
        capacity: stagedConvScratchCount(layout: weights.layout, kernelSize: k, inputWidth: w, outputWidth: ow))
      defer { scratch.deallocate() }
      let halfInput = HalfMap(input)
      for rows in [0..<(oh / 2), (oh / 2)..<oh] {
        convStaged(
          input: AnyFeatureMap(input.map), weights: weights.packed, output: AnyFeatureMap(full.map), kernelSize: k,
          stride: stride, epilogue: epilogue, residual: epilogue == .residual ? AnyFeatureMap(full.map) : nil,
          rows: rows, scratch: scratch)
        convStaged(
          input: halfInput.map, weights: weights.packed, output: half.map, kernelSize: k, stride: stride,
          epilogue: epilogue, residual: epilogue == .residual ? half.map : nil, rows: rows, scratch: scratch)
      }
      assertRounded(half, full, "\(k)x\(k)/\(stride) \(cin)->\(cout) \(epilogue)")
      // fp32 in, fp16 out and fp16 in, fp32 out: the same values.
      if epilogue != .residual {
        let mixed = HalfMap(map(&rng, cout, oh, ow))
        let back = TestMap(height: oh, width: ow, channels: cout)
        convStaged(
          input: AnyFeatureMap(input.map), weights: weights.packed, output: mixed.map, kernelSize: k, stride: stride,
          epilogue: epilogue, residual: nil, rows: 0..<oh, scratch: scratch)
        convStaged(
          input: halfInput.map, weights: weights.packed, output: AnyFeatureMap(back.map), kernelSize: k, stride: stride,
          epilogue: epilogue, residual: nil, rows: 0..<oh, scratch: scratch)
        assertRounded(mixed, full, "fp32 -> fp16 \(k)x\(k)")
        XCTAssertEqual(back.nchw(), full.nchw(), "fp16 -> fp32 \(k)x\(k)")
      }
      withExtendedLifetime(halfInput) {}
    }
  }

  func testDeformableUpsampleCopyAndLSTMMatchFP32Rounded() {
    var rng = TestRandom(seed: 42)
    let (c, h, w, groups) = (16, 6, 9, 2)
    let input = map(&rng, c, h, w, halo: 0)
    let offsets = TestMap(height: h, width: w, channels: 27 * groups, halo: 0)
    offsets.load(nchw: rng.array(27 * groups * h * w, -3, 3))
    let weights = TestWeights(
      oihw: rng.array(c * c * 9, -0.3, 0.3), bias: rng.array(c, -0.5, 0.5), cout: c, cin: c, taps: 9)
    let scratch = UnsafeMutablePointer<Float>.allocate(
      capacity: DeformableConv.scratchCount(inputChannels: c, groups: groups, tilePixels: 4, outputChannels: c))
    defer { scratch.deallocate() }
    let full = TestMap(height: h, width: w, channels: c, halo: 0)
    let half = HalfMap(TestMap(height: h, width: w, channels: c, halo: 0))
    // fp16 copies are kept in locals: a map is a raw pointer and does not keep them alive.
    let halfInput = HalfMap(input)
    deformConv3x3(
      input: AnyFeatureMap(input.map), offsetsAndMask: offsets.map, groups: groups, weights: weights.packed,
      output: AnyFeatureMap(full.map), epilogue: .leakyRelu, rows: 0..<h, scratch: scratch, tilePixels: 4)
    deformConv3x3(
      input: halfInput.map, offsetsAndMask: offsets.map, groups: groups, weights: weights.packed,
      output: half.map, epilogue: .leakyRelu, rows: 0..<h, scratch: scratch, tilePixels: 4)
    assertRounded(half, full, "deformable conv")

    let up = TestMap(height: 2 * h, width: 2 * w, channels: c, halo: 0)
    let upHalf = HalfMap(TestMap(height: 2 * h, width: 2 * w, channels: c, halo: 0))
    upsample2x(input: AnyFeatureMap(input.map), output: AnyFeatureMap(up.map), scale: 2, rows: 0..<(2 * h))
    upsample2x(input: halfInput.map, output: upHalf.map, scale: 2, rows: 0..<(2 * h))
    assertRounded(upHalf, up, "upsample2x")

    let copy = HalfMap(TestMap(height: h, width: w, channels: c, halo: 0))
    scale(AnyFeatureMap(input.map), by: 1, output: copy.map, rows: 0..<h)
    assertRounded(copy, input, "copy fp32 -> fp16")

    let gates = map(&rng, 4 * c, h, w, halo: 0)
    let cellIn = map(&rng, c, h, w, halo: 0)
    let (cell, hidden) = (
      TestMap(height: h, width: w, channels: c, halo: 0), TestMap(height: h, width: w, channels: c, halo: 0)
    )
    let (cellHalf, hiddenHalf) = (HalfMap(cell), HalfMap(hidden))
    lstmUpdate(
      gates: AnyFeatureMap(gates.map), cellIn: AnyFeatureMap(cellIn.map), cellOut: AnyFeatureMap(cell.map),
      hiddenOut: AnyFeatureMap(hidden.map), rows: 0..<h)
    let (gatesHalf, cellInHalf) = (HalfMap(gates), HalfMap(cellIn))
    lstmUpdate(
      gates: gatesHalf.map, cellIn: cellInHalf.map, cellOut: cellHalf.map, hiddenOut: hiddenHalf.map, rows: 0..<h)
    assertRounded(cellHalf, cell, "LSTM cell")
    // The hidden state reads the fp32 cell in both (before rounding), so it matches too.
    assertRounded(hiddenHalf, hidden, "LSTM hidden")
    withExtendedLifetime((halfInput, gatesHalf, cellInHalf)) {}
  }
}
