/// A view of one channels-last feature map: `height x width` pixels of `channels` values of
/// type `Element` (`Float`, `Float16`, or `UInt8` for quantised maps).
///
/// Element `(y, x, c)` is at `base[y * rowStride + x * pixelStride + c]`. The view does not own
/// memory. Layout rules the kernels rely on:
/// - `pixelStride >= channels`; a map may be a channel slice of a wider buffer (this is how a
///   concatenation costs nothing: producers write straight into their slice).
/// - Inputs of 3x3 convolutions carry a one-pixel zero border (halo): rows -1 and `height`, and
///   columns -1 and `width`, are readable and hold zeros.
/// - Convolutions write whole 16-lane vectors for each output channel block except the last,
///   which is stored lane by lane, so no write goes past channel `channels - 1`.
public struct FeatureMapOf<Element> {
  public var base: UnsafeMutablePointer<Element>
  public var height: Int
  public var width: Int
  public var channels: Int
  public var pixelStride: Int
  public var rowStride: Int

  @inlinable
  public init(
    base: UnsafeMutablePointer<Element>, height: Int, width: Int, channels: Int, pixelStride: Int, rowStride: Int
  ) {
    self.base = base
    self.height = height
    self.width = width
    self.channels = channels
    self.pixelStride = pixelStride
    self.rowStride = rowStride
  }

  /// Channels `start ..< start + count` of this map, as a map of its own.
  @inlinable
  public func channelSlice(_ start: Int, _ count: Int) -> FeatureMapOf {
    FeatureMapOf(
      base: base + start, height: height, width: width, channels: count, pixelStride: pixelStride,
      rowStride: rowStride)
  }

  /// Rows `start ..< start + count` of this map.
  @inlinable
  public func rowSlice(_ start: Int, _ count: Int) -> FeatureMapOf {
    FeatureMapOf(
      base: base + start * rowStride, height: count, width: width, channels: channels, pixelStride: pixelStride,
      rowStride: rowStride)
  }

  /// Pointer to channel 0 of pixel `(y, x)`.
  @inlinable @inline(__always)
  public func pixel(_ y: Int, _ x: Int) -> UnsafeMutablePointer<Element> {
    base + (y &* rowStride &+ x &* pixelStride)
  }
}

/// The fp32 map every kernel computes on.
public typealias FeatureMap = FeatureMapOf<Float>
/// A map stored in half precision (fp16 storage: kernels widen rows to fp32).
public typealias FeatureMapF16 = FeatureMapOf<Float16>

/// How the values of a stored map are represented.
public enum MapElementType: Sendable, Equatable {
  case float32, float16

  /// Bytes per value.
  public var byteCount: Int { self == .float32 ? 4 : 2 }
}

/// A map whose element type is known only at run time: what the graph passes to the kernels
/// that accept either precision (they switch once per call, then run a specialised loop).
public struct AnyFeatureMap {
  public var base: UnsafeMutableRawPointer
  public var element: MapElementType
  public var height: Int
  public var width: Int
  public var channels: Int
  public var pixelStride: Int
  public var rowStride: Int

  public init(
    base: UnsafeMutableRawPointer, element: MapElementType, height: Int, width: Int, channels: Int,
    pixelStride: Int, rowStride: Int
  ) {
    self.base = base
    self.element = element
    self.height = height
    self.width = width
    self.channels = channels
    self.pixelStride = pixelStride
    self.rowStride = rowStride
  }

  public init(_ m: FeatureMap) {
    self.init(
      base: UnsafeMutableRawPointer(m.base), element: .float32, height: m.height, width: m.width,
      channels: m.channels, pixelStride: m.pixelStride, rowStride: m.rowStride)
  }

  public init(_ m: FeatureMapF16) {
    self.init(
      base: UnsafeMutableRawPointer(m.base), element: .float16, height: m.height, width: m.width,
      channels: m.channels, pixelStride: m.pixelStride, rowStride: m.rowStride)
  }

  /// The fp32 map (the caller has checked `element == .float32`).
  public var float32: FeatureMap { typed(Float.self) }
  /// The fp16 map (the caller has checked `element == .float16`).
  public var float16: FeatureMapF16 { typed(Float16.self) }

  @inline(__always)
  func typed<E>(_: E.Type) -> FeatureMapOf<E> {
    FeatureMapOf(
      base: base.assumingMemoryBound(to: E.self), height: height, width: width, channels: channels,
      pixelStride: pixelStride, rowStride: rowStride)
  }
}

/// A stored value type the kernels read as fp32 and write from fp32. Each conversion is
/// written as a lane loop, which compiles to one `vcvtph2ps`/`vcvtps2ph` (F16C) or
/// `fcvtl`/`fcvtn` (NEON); the stdlib's generic SIMD conversions are library calls.
public protocol MapElement {
  static func load16(_ p: UnsafePointer<Self>) -> SIMD16<Float>
  static func load8(_ p: UnsafePointer<Self>) -> SIMD8<Float>
  static func load4(_ p: UnsafePointer<Self>) -> SIMD4<Float>
  static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Self>)
  static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Self>)
  static func load1(_ p: UnsafePointer<Self>) -> Float
  static func store1(_ v: Float, _ p: UnsafeMutablePointer<Self>)
}

extension Float: MapElement {
  @inline(__always) public static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { loadVector(p) }
  @inline(__always) public static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { loadVector8(p) }
  @inline(__always) public static func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> { loadVector4(p) }
  @inline(__always) public static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    storeVector(v, p)
  }
  @inline(__always) public static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    storeVector8(v, p)
  }
  @inline(__always) public static func load1(_ p: UnsafePointer<Float>) -> Float { p.pointee }
  @inline(__always) public static func store1(_ v: Float, _ p: UnsafeMutablePointer<Float>) { p.pointee = v }
}

extension Float16: MapElement {
  @inline(__always) public static func load16(_ p: UnsafePointer<Float16>) -> SIMD16<Float> {
    let h = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float16>.self)
    var f = SIMD16<Float>()
    for k in 0..<16 { f[k] = Float(h[k]) }
    return f
  }
  @inline(__always) public static func load8(_ p: UnsafePointer<Float16>) -> SIMD8<Float> {
    let h = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float16>.self)
    var f = SIMD8<Float>()
    for k in 0..<8 { f[k] = Float(h[k]) }
    return f
  }
  @inline(__always) public static func load4(_ p: UnsafePointer<Float16>) -> SIMD4<Float> {
    let h = UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float16>.self)
    var f = SIMD4<Float>()
    for k in 0..<4 { f[k] = Float(h[k]) }
    return f
  }
  @inline(__always) public static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float16>) {
    var h = SIMD16<Float16>()
    for k in 0..<16 { h[k] = Float16(v[k]) }
    UnsafeMutableRawPointer(p).storeBytes(of: h, as: SIMD16<Float16>.self)
  }
  @inline(__always) public static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float16>) {
    var h = SIMD8<Float16>()
    for k in 0..<8 { h[k] = Float16(v[k]) }
    UnsafeMutableRawPointer(p).storeBytes(of: h, as: SIMD8<Float16>.self)
  }
  @inline(__always) public static func load1(_ p: UnsafePointer<Float16>) -> Float { Float(p.pointee) }
  @inline(__always) public static func store1(_ v: Float, _ p: UnsafeMutablePointer<Float16>) {
    p.pointee = Float16(v)
  }
}

/// Converts `count` stored values to floats.
@inline(__always)
func widenRow<E: MapElement>(_ source: UnsafePointer<E>, _ destination: UnsafeMutablePointer<Float>, _ count: Int) {
  var i = 0
  while i &+ 16 <= count {
    storeVector(E.load16(source + i), destination + i)
    i &+= 16
  }
  while i < count {
    destination[i] = E.load1(source + i)
    i &+= 1
  }
}

/// Converts `count` floats to stored values (fp16: round to nearest even).
@inline(__always)
func narrowRow<E: MapElement>(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<E>, _ count: Int) {
  var i = 0
  while i &+ 16 <= count {
    E.store16(loadVector(source + i), destination + i)
    i &+= 16
  }
  while i < count {
    E.store1(source[i], destination + i)
    i &+= 1
  }
}

/// Converts `count` values between two stored types (a copy when they are the same).
public func convertValues(
  _ source: UnsafeRawPointer, _ sourceType: MapElementType, _ destination: UnsafeMutableRawPointer,
  _ destinationType: MapElementType, _ count: Int
) {
  switch (sourceType, destinationType) {
  case (.float32, .float32), (.float16, .float16):
    destination.copyMemory(from: source, byteCount: count * sourceType.byteCount)
  case (.float16, .float32):
    widenRow(source.assumingMemoryBound(to: Float16.self), destination.assumingMemoryBound(to: Float.self), count)
  case (.float32, .float16):
    narrowRow(source.assumingMemoryBound(to: Float.self), destination.assumingMemoryBound(to: Float16.self), count)
  }
}
