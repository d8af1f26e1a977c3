import XCTest
import ZSMModel

/// Clipping ranges from the log-binned histograms, and the u8 quantisation parameters.
final class ActivationHistogramTests: XCTestCase {
  /// Deterministic uniform floats in `range` (SplitMix64).
  private func uniform(_ count: Int, _ range: ClosedRange<Float>, seed: UInt64) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      z ^= z >> 31
      let unit = Float(z >> 40) / Float(1 << 24)  // 0 ..< 1
      return range.lowerBound + unit * (range.upperBound - range.lowerBound)
    }
  }

  private func histogram(_ values: [Float]) -> ActivationHistogram {
    var h = ActivationHistogram()
    values.withUnsafeBufferPointer { h.add($0) }
    return h
  }

  /// The bins are 1/32 octave wide, so an upper bin edge is at most ~2.2% above the value.
  private func assertQuantile(_ got: Float, near expected: Float, line: UInt = #line) {
    XCTAssertGreaterThanOrEqual(abs(got), abs(expected) * 0.995, "\(got) vs \(expected)", line: line)
    XCTAssertLessThanOrEqual(abs(got), abs(expected) * 1.035, "\(got) vs \(expected)", line: line)
  }

  func testUniformSymmetricDistribution() {
    let h = histogram(uniform(100_000, -2...2, seed: 1))
    XCTAssertEqual(h.count, 100_000)
    XCTAssertGreaterThanOrEqual(h.min, -2)
    XCTAssertLessThan(h.min, -1.999)
    XCTAssertLessThanOrEqual(h.max, 2)
    XCTAssertGreaterThan(h.max, 1.999)
    XCTAssertEqual(h.positiveCount + h.negativeCount + h.zeroCount, 100_000)
    for q in [0.5, 0.9, 0.99] {
      let (low, high) = h.quantile(q)
      assertQuantile(high, near: Float(q) * 2)
      assertQuantile(low, near: -Float(q) * 2)
      XCTAssertLessThan(low, 0)
    }
    let all = h.quantile(1)
    XCTAssertEqual(all.low, h.min)
    XCTAssertEqual(all.high, h.max)
    // Never outside the observed range, even where the bin edge is.
    let nearly = h.quantile(0.99999)
    XCTAssertLessThanOrEqual(nearly.high, h.max)
    XCTAssertGreaterThanOrEqual(nearly.low, h.min)
  }

  /// ReLU-like: half the values exactly 0, the rest positive; no negative side at all.
  func testOneSidedWithZeros() {
    var values = uniform(20_000, 0...6, seed: 2)
    values += [Float](repeating: 0, count: 20_000)
    values += [Float](repeating: -0.0, count: 100)
    let h = histogram(values)
    XCTAssertEqual(h.zeroCount, 20_100)
    XCTAssertEqual(h.negativeCount, 0)
    XCTAssertEqual(h.min, 0)
    XCTAssertEqual(h.quantile(0.9).low, 0)
    // The quantile is of the positive values: zeros do not pull it down.
    assertQuantile(h.quantile(0.5).high, near: 3)
    let p = QuantizationParameters.asymmetricUInt8(low: h.quantile(0.999).low, high: h.quantile(0.999).high)
    XCTAssertEqual(p.zeroPoint, 0)
    XCTAssertEqual(p.dequantize(p.quantize(0)), 0)
  }

  /// A few outliers: a 0.9999 quantile clips them, min and max keep them.
  func testOutliersAreClippedByTheQuantileButKeptInMinMax() {
    var values = uniform(100_000, -1...1, seed: 3)
    values += [1000, 800, 900, -500, -700]
    let h = histogram(values)
    XCTAssertEqual(h.max, 1000)
    XCTAssertEqual(h.min, -700)
    let (low, high) = h.quantile(0.9999)
    XCTAssertLessThanOrEqual(high, 1.0)
    XCTAssertGreaterThan(high, 0.99)
    XCTAssertGreaterThanOrEqual(low, -1.0)
    XCTAssertLessThan(low, -0.99)
    let all = h.quantile(1)
    XCTAssertEqual(all.high, 1000)
    XCTAssertEqual(all.low, -700)
  }

  func testMergeEqualsAddingEverything() {
    let a = uniform(10_000, -3...5, seed: 4)
    let b = uniform(7_000, -0.001...0.002, seed: 5) + [0, 0, 0, .nan]
    let c = uniform(3_000, 10...20, seed: 6) + [1e-30, -1e30, .infinity]
    var merged = histogram(a)
    merged.merge(histogram(b))
    merged.merge(histogram(c))
    let whole = histogram(a + b + c)
    XCTAssertEqual(merged, whole)
    XCTAssertEqual(merged.count, 20_007)
    XCTAssertEqual(merged.zeroCount, 3)
    XCTAssertEqual(merged.nonFiniteCount, 2)
    for q in [0.0, 0.1, 0.5, 0.99, 0.9999, 1] {
      XCTAssertTrue(merged.quantile(q) == whole.quantile(q), "q \(q)")
    }
    // Merging into an empty histogram, and merging an empty one, change nothing.
    var empty = ActivationHistogram()
    empty.merge(whole)
    XCTAssertEqual(empty, whole)
    merged.merge(ActivationHistogram())
    XCTAssertEqual(merged, whole)
  }

  func testEmptyAndAllZeroTensors() {
    let empty = ActivationHistogram()
    XCTAssertEqual(empty.count, 0)
    XCTAssertEqual(empty.min, 0)
    XCTAssertEqual(empty.max, 0)
    XCTAssertTrue(empty.quantile(0.9999) == (0, 0))
    let zeros = histogram([Float](repeating: 0, count: 1000))
    XCTAssertEqual(zeros.count, 1000)
    XCTAssertEqual(zeros.zeroCount, 1000)
    XCTAssertTrue(zeros.quantile(0.5) == (0, 0))
    let p = QuantizationParameters.asymmetricUInt8(low: 0, high: 0)
    XCTAssertGreaterThan(p.scale, 0)
    XCTAssertTrue(p.scale.isFinite)
    XCTAssertEqual(p.zeroPoint, 0)
    XCTAssertEqual(p.dequantize(p.quantize(0)), 0)
  }

  /// NaN and infinities are counted, not binned, and do not move min and max.
  func testNonFiniteValuesAreCountedApart() {
    let h = histogram([1, -2, .nan, .infinity, -.infinity, 0.5])
    XCTAssertEqual(h.count, 6)
    XCTAssertEqual(h.nonFiniteCount, 3)
    XCTAssertEqual(h.min, -2)
    XCTAssertEqual(h.max, 1)
    XCTAssertEqual(h.positiveCount, 2)
    XCTAssertEqual(h.negativeCount, 1)
  }

  /// Below 2^-24 is the underflow bin (its edge is 2^-24), above 2^40 the top bin (clamped to max).
  func testUnderflowAndTopBins() {
    let h = histogram([1e-30, 2e-30, 3e-30, 1e13])
    XCTAssertEqual(h.quantile(0.5).high, ActivationHistogram.lowestBinnedMagnitude)
    XCTAssertEqual(h.quantile(0.9).high, 1e13)
    XCTAssertEqual(h.quantile(1).high, 1e13)
    let tiny = histogram([1e-30])
    XCTAssertEqual(tiny.quantile(0.5).high, 1e-30)  // the edge, but never above max
    // Exactly at a bin's lower edge: 1.0 is in [1, 1.03125).
    let one = histogram([1, 1, 1, 1.0625])
    XCTAssertEqual(one.quantile(0.5).high, 1.03125)
  }

  func testAsymmetricParameters() {
    let p = QuantizationParameters.asymmetricUInt8(low: -1, high: 3)
    XCTAssertEqual(p.scale, 4 / 255)
    XCTAssertEqual(p.zeroPoint, 64)  // round(63.75)
    XCTAssertEqual(p.quantize(0), 64)
    XCTAssertEqual(p.quantize(-5), 0)
    XCTAssertEqual(p.quantize(50), 255)
    XCTAssertEqual(p.quantize(.nan), 0)
    XCTAssertEqual(p.quantize(.infinity), 255)
    XCTAssertEqual(p.quantize(-.infinity), 0)
    for x in uniform(1000, -0.99...2.99, seed: 7) {
      XCTAssertLessThanOrEqual(abs(p.dequantize(p.quantize(x)) - x), p.scale * 0.5001, "\(x)")
    }
    // The range is widened to include 0.
    XCTAssertEqual(QuantizationParameters.asymmetricUInt8(low: 2, high: 5).zeroPoint, 0)
    XCTAssertEqual(QuantizationParameters.asymmetricUInt8(low: 2, high: 5).scale, 5 / 255)
    XCTAssertEqual(QuantizationParameters.asymmetricUInt8(low: -5, high: -2).zeroPoint, 255)
    // Ranges at Float's limits do not overflow.
    let huge = QuantizationParameters.asymmetricUInt8(low: -.greatestFiniteMagnitude, high: .greatestFiniteMagnitude)
    XCTAssertTrue(huge.scale.isFinite)
    XCTAssertTrue((127...128).contains(huge.zeroPoint), "\(huge)")
    // Non-finite or degenerate input gives usable parameters, not a trap.
    for (low, high) in [(Float.nan, 1), (0, Float.infinity), (-7 * .leastNonzeroMagnitude, 0)] as [(Float, Float)] {
      let q = QuantizationParameters.asymmetricUInt8(low: low, high: high)
      XCTAssertTrue(q.scale.isFinite && q.scale > 0, "\(low) \(high)")
      XCTAssertTrue((0...255).contains(q.zeroPoint))
    }
  }

  /// 0 is exactly representable for any range.
  func testZeroIsExactForManyRanges() {
    let ends = uniform(400, -50...50, seed: 8)
    for i in stride(from: 0, to: ends.count, by: 2) {
      let p = QuantizationParameters.asymmetricUInt8(low: min(ends[i], ends[i + 1]), high: max(ends[i], ends[i + 1]))
      XCTAssertEqual(p.dequantize(p.quantize(0)), 0, "\(p)")
      XCTAssertEqual(Int32(p.quantize(0)), p.zeroPoint)
    }
  }

  func testSymmetricParameters() {
    let p = QuantizationParameters.symmetricUInt8(low: -0.5, high: 2.54)
    XCTAssertEqual(p.zeroPoint, 128)
    XCTAssertEqual(p.scale, Float(Double(Float(2.54)) / 127))
    XCTAssertEqual(p.quantize(0), 128)
    XCTAssertEqual(p.quantize(2.54), 255)
    XCTAssertEqual(p.quantize(-2.54), 1)
    XCTAssertEqual(p.dequantize(p.quantize(0)), 0)
  }
}
