import Foundation
import ZSMKernels

/// Deterministic pseudo-random numbers for tests.
struct TestRandom {
  var state: UInt64
  init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1 }
  mutating func next() -> UInt64 {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return state >> 11
  }
  /// Uniform in [lo, hi).
  mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
    lo + (hi - lo) * Float(Double(next() % 1_000_003) / 1_000_003)
  }
  mutating func array(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
    (0..<n).map { _ in uniform(lo, hi) }
  }
}

/// Owns channels-last storage with an optional halo, filled from/compared to plain NCHW arrays.
final class TestMap {
  let height: Int
  let width: Int
  let channels: Int
  let halo: Int
  let pixelStride: Int
  let storage: UnsafeMutablePointer<Float>
  let count: Int

  init(height: Int, width: Int, channels: Int, halo: Int = 1, pixelStride: Int? = nil, fill: Float = 0) {
    self.height = height
    self.width = width
    self.channels = channels
    self.halo = halo
    self.pixelStride = pixelStride ?? channels
    count = (height + 2 * halo) * (width + 2 * halo) * self.pixelStride
    storage = .allocate(capacity: count)
    storage.initialize(repeating: fill, count: count)
    // The halo is always zero, whatever the fill.
    for y in -halo..<(height + halo) {
      for x in -halo..<(width + halo) where y < 0 || y >= height || x < 0 || x >= width {
        let p = storage + ((y + halo) * (width + 2 * halo) + x + halo) * self.pixelStride
        for c in 0..<self.pixelStride { p[c] = 0 }
      }
    }
  }

  deinit { storage.deallocate() }

  var map: FeatureMap {
    let rowStride = (width + 2 * halo) * pixelStride
    return FeatureMap(
      base: storage + halo * rowStride + halo * pixelStride, height: height, width: width, channels: channels,
      pixelStride: pixelStride, rowStride: rowStride)
  }

  /// Copies `[C][H][W]` values in.
  func load(nchw: [Float]) {
    let m = map
    for c in 0..<channels {
      for y in 0..<height { for x in 0..<width { m.pixel(y, x)[c] = nchw[(c * height + y) * width + x] } }
    }
  }

  /// `body` with an fp16 copy of the storage (each value rounded to nearest, the halo zero), as
  /// a map of the same geometry.
  func withHalfMap<R>(_ body: (FeatureMapF16) -> R) -> R {
    let half = UnsafeMutablePointer<Float16>.allocate(capacity: count)
    defer { half.deallocate() }
    for i in 0..<count { half[i] = Float16(storage[i]) }
    let m = map
    let halfMap = FeatureMapF16(
      base: half + (m.base - storage), height: height, width: width, channels: channels, pixelStride: pixelStride,
      rowStride: m.rowStride)
    return body(halfMap)
  }

  /// Copies the map out as `[C][H][W]`.
  func nchw() -> [Float] {
    let m = map
    var out = [Float](repeating: 0, count: channels * height * width)
    for c in 0..<channels {
      for y in 0..<height { for x in 0..<width { out[(c * height + y) * width + x] = m.pixel(y, x)[c] } }
    }
    return out
  }
}

/// Packs `[out][in][k][k]` weights for the kernels; keeps the storage alive.
final class TestWeights {
  let layout: ConvWeightLayout
  let weights: UnsafeMutablePointer<Float>
  let bias: UnsafeMutablePointer<Float>

  init(oihw: [Float], bias b: [Float], cout: Int, cin: Int, taps: Int, order: ((Int) -> Int)? = nil) {
    layout = ConvWeightLayout(inputChannels: cin, outputChannels: cout, taps: taps)
    weights = .allocate(capacity: layout.packedWeightCount)
    bias = .allocate(capacity: layout.packedBiasCount)
    oihw.withUnsafeBufferPointer { w in
      b.withUnsafeBufferPointer { bb in
        if let order {
          layout.pack(weights: w.baseAddress!, bias: bb.baseAddress!, into: weights, bias: bias, outputOrder: order)
        } else {
          layout.pack(weights: w.baseAddress!, bias: bb.baseAddress!, into: weights, bias: bias)
        }
      }
    }
  }

  deinit {
    weights.deallocate()
    bias.deallocate()
  }

  var packed: PackedConvWeights { PackedConvWeights(layout: layout, weights: weights, bias: bias) }
}

/// Largest |got - want| / scale over all elements, where `scale[i]` is the magnitude the value
/// was summed from (for a convolution: |bias| + sum of |w * x|), so the bound states the
/// relative accuracy of the summation itself.
func maxScaledError(_ got: [Float], _ want: [Double], scale: [Double]) -> Double {
  var worst = 0.0
  for i in got.indices {
    worst = max(worst, abs(Double(got[i]) - want[i]) / max(scale[i], 1e-30))
  }
  return worst
}
