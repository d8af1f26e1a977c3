/// The values one tensor took over a calibration run, condensed so a clipping range can be
/// chosen afterwards: exact minimum and maximum, and log-binned histograms of the positive
/// values and of the magnitudes of the negative ones.
///
/// Why log bins read off the bit pattern: activations span many orders of magnitude (and the
/// range is not known before the first frame), so fixed linear bins would either need a second
/// pass or lose the small values. The bin of `|x|` is its exponent and the top 5 mantissa bits,
/// `bitPattern >> 18`: 32 bins per octave (about 2% relative width), computed with a shift and
/// no logarithm. Bins cover 2^-24 ... 2^40; smaller magnitudes go to an underflow bin (they are
/// ~0 at any int8 scale), larger ones to the top bin. Zeros (very common after ReLU) are counted
/// apart, and NaN and infinities are counted in `nonFiniteCount` and otherwise ignored (a
/// calibration run that produces them is broken and should say so rather than clip to them).
public struct ActivationHistogram: Equatable, Sendable {
  /// Bins per octave (2^5: five mantissa bits).
  public static let binsPerOctave = 32
  /// The smallest magnitude with a bin of its own: 2^-24.
  public static let lowestBinnedMagnitude = Float(bitPattern: UInt32(127 - 24) << 23)
  /// Magnitudes from 2^40 up share the top bin.
  public static let topBinnedMagnitude = Float(bitPattern: UInt32(127 + 40) << 23)

  /// `bitPattern >> 18` of 2^-24.
  private static let base = (127 - 24) << 5
  /// Bins from 2^-24 to 2^40.
  private static let binCount = 64 * 32
  /// Slots per side: the underflow slot 0, then bins 1...binCount (the last also holds
  /// everything above 2^40).
  private static let slotsPerSide = binCount + 1

  /// Positive slots, then negative ones.
  private var slots: [Int]
  private var lowest = Float.infinity
  private var highest = -Float.infinity

  /// Values given to `add`, including zeros and non-finite values.
  public private(set) var count = 0
  /// Values that were +0 or -0.
  public private(set) var zeroCount = 0
  /// Values that were NaN or infinite (not in the histograms, `min` or `max`).
  public private(set) var nonFiniteCount = 0

  public init() {
    slots = [Int](repeating: 0, count: 2 * Self.slotsPerSide)
  }

  /// The smallest finite value seen; 0 before any.
  public var min: Float { lowest <= highest ? lowest : 0 }
  /// The largest finite value seen; 0 before any.
  public var max: Float { lowest <= highest ? highest : 0 }

  /// Finite values above zero.
  public var positiveCount: Int { slots[0..<Self.slotsPerSide].reduce(0, +) }
  /// Finite values below zero.
  public var negativeCount: Int { slots[Self.slotsPerSide...].reduce(0, +) }

  /// Adds `count` values at `p`. Called on every activation of every calibration frame, so it
  /// does no allocation and no calls per value: a bit test, a shift, a clamp and an increment.
  public mutating func add(_ p: UnsafePointer<Float>, count n: Int) {
    guard n > 0 else { return }
    var low = lowest
    var high = highest
    var zeros = 0
    var nonFinite = 0
    slots.withUnsafeMutableBufferPointer { buffer in
      let slot = buffer.baseAddress.unsafelyUnwrapped
      let top = Self.binCount
      for i in 0..<n {
        let x = p[i]
        let bits = x.bitPattern
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude >= 0x7F80_0000 {
          nonFinite &+= 1
          continue
        }
        low = x < low ? x : low
        high = x > high ? x : high
        if magnitude == 0 {
          zeros &+= 1
          continue
        }
        var bin = Int(magnitude &>> 18) &- Self.base &+ 1
        bin = bin < 0 ? 0 : bin
        bin = bin > top ? top : bin
        let side = Int(bits &>> 31) &* Self.slotsPerSide
        slot[side &+ bin] &+= 1
      }
    }
    lowest = low
    highest = high
    zeroCount += zeros
    nonFiniteCount += nonFinite
    count += n
  }

  /// Adds the values of a buffer.
  public mutating func add(_ values: UnsafeBufferPointer<Float>) {
    guard let base = values.baseAddress else { return }
    add(base, count: values.count)
  }

  /// Adds everything `other` saw, as if its values had been added here (e.g. per-thread or
  /// per-window histograms combined at the end).
  public mutating func merge(_ other: ActivationHistogram) {
    for i in slots.indices { slots[i] += other.slots[i] }
    lowest = Swift.min(lowest, other.lowest)
    highest = Swift.max(highest, other.highest)
    count += other.count
    zeroCount += other.zeroCount
    nonFiniteCount += other.nonFiniteCount
  }

  /// A clipping range: `high` is the value below which a fraction `q` of the positive values
  /// lie (the upper edge of the bin where that fraction is reached, never above `max`), `low`
  /// the same for the magnitudes of the negative values, as a negative number never below
  /// `min`. A side without values gives 0. `q` = 1 gives `max` and `min` exactly.
  public func quantile(_ q: Double) -> (low: Float, high: Float) {
    precondition(q >= 0 && q <= 1, "quantile \(q) outside 0...1")
    let high = positiveCount > 0 ? Swift.min(sideQuantile(q, side: 0), max) : 0
    let low = negativeCount > 0 ? -Swift.min(sideQuantile(q, side: 1), -min) : 0
    return (low: low, high: high)
  }

  /// The upper edge of the first bin of `side` (0 positive, 1 negative) at which the
  /// cumulative count reaches `q` of the side's total; +infinity for the top bin (it has no
  /// upper edge; the caller clamps to the extreme). The side must not be empty.
  private func sideQuantile(_ q: Double, side: Int) -> Float {
    let start = side * Self.slotsPerSide
    let total = slots[start..<(start + Self.slotsPerSide)].reduce(0, +)
    if q == 1 { return .infinity }
    let target = q * Double(total)
    var cumulative = 0
    for bin in 0...Self.binCount {
      cumulative += slots[start + bin]
      guard cumulative > 0, Double(cumulative) >= target else { continue }
      if bin == Self.binCount { return .infinity }
      // Slot `bin` holds bit patterns (bin - 1 + base) << 18 ..< (bin + base) << 18.
      return Float(bitPattern: UInt32(bin + Self.base) << 18)
    }
    return .infinity
  }
}

/// How a tensor's floats map to 8-bit codes: `x ≈ (q - zeroPoint) * scale`, q in 0...255.
public struct QuantizationParameters: Equatable, Sendable {
  public var scale: Float
  public var zeroPoint: Int32

  /// The scale used when the range is empty (all zeros): any positive value represents 0
  /// exactly; a tiny one makes the table's intent (nothing to represent) plain.
  public static let emptyRangeScale: Float = 1e-8

  public init(scale: Float, zeroPoint: Int32) {
    self.scale = scale
    self.zeroPoint = zeroPoint
  }

  /// Parameters covering `low...high` with all 256 codes. The range is first widened to
  /// include 0, and the zero point is an integer, so 0 (padding, ReLU's output) is exactly
  /// representable: a convolution's zero padding must quantise to exactly the zero point.
  public static func asymmetricUInt8(low: Float, high: Float) -> QuantizationParameters {
    let lo = Double(Swift.min(low, 0))
    let hi = Double(Swift.max(high, 0))
    // In Double, so that hi - lo cannot overflow for ranges near Float's limits.
    let scale = Float((hi - lo) / 255)
    guard scale.isFinite, scale >= Float.leastNormalMagnitude else {
      return QuantizationParameters(scale: emptyRangeScale, zeroPoint: 0)
    }
    let zeroPoint = (-lo / Double(scale)).rounded()
    return QuantizationParameters(scale: scale, zeroPoint: Int32(Swift.max(0, Swift.min(255, zeroPoint))))
  }

  /// Parameters with the zero point fixed at 128 and `scale = max(|low|, |high|) / 127`, the
  /// layout the x86 int8 kernels (`Int8Conv3x3`, VNNI or AVX2) take: codes 1...255 cover
  /// -absmax...absmax, 0 is code 128.
  public static func symmetricUInt8(low: Float, high: Float) -> QuantizationParameters {
    let magnitude = Double(Swift.max(abs(low), abs(high)))
    let scale = Float(magnitude / 127)
    guard scale.isFinite, scale >= Float.leastNormalMagnitude else {
      return QuantizationParameters(scale: emptyRangeScale, zeroPoint: 128)
    }
    return QuantizationParameters(scale: scale, zeroPoint: 128)
  }

  /// The code of `x`: `round(x / scale) + zeroPoint` (halves away from zero), clamped to
  /// 0...255. NaN gives 0 rather than trapping in the integer conversion.
  @inline(__always)
  public func quantize(_ x: Float) -> UInt8 {
    let code = (x / scale).rounded() + Float(zeroPoint)
    guard code >= 0 else { return 0 }
    return code >= 255 ? 255 : UInt8(code)
  }

  /// The float a code stands for.
  @inline(__always)
  public func dequantize(_ code: UInt8) -> Float {
    Float(Int32(code) - zeroPoint) * scale
  }
}
