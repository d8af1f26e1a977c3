import ZSMKernels

/// Geometry of one channels-last feature map in memory (see `FeatureMap` in ZSMKernels).
///
/// | field | meaning |
/// |---|---|
/// | `height`, `width`, `channels` | the logical map |
/// | `halo` | zero border around the map, in pixels (1 for 3x3 convolution inputs, else 0) |
/// | `pixelStride` | values from one pixel to the next (>= channels) |
/// | `element` | how values are stored: fp32 (default) or fp16 |
///
/// Memory order is `[height + 2*halo][width + 2*halo][pixelStride]` values. A concatenation
/// `[a ‖ b]` is one descriptor whose channel slices are produced in place.
public struct TensorDescriptor: Sendable, Equatable, CustomStringConvertible {
  public var height: Int
  public var width: Int
  public var channels: Int
  public var halo: Int
  public var pixelStride: Int
  public var element: MapElementType

  public init(
    height: Int, width: Int, channels: Int, halo: Int = 0, pixelStride: Int? = nil,
    element: MapElementType = .float32
  ) {
    self.height = height
    self.width = width
    self.channels = channels
    self.halo = halo
    self.pixelStride = pixelStride ?? channels
    self.element = element
  }

  public var rowStride: Int { (width + 2 * halo) * pixelStride }
  /// Values the map occupies, halo included (floats for an fp32 map).
  public var floatCount: Int { (height + 2 * halo) * rowStride }
  public var byteCount: Int { floatCount * element.byteCount }

  /// The map, of either precision, whose storage starts at `storage` (the halo's first value).
  public func anyMap(at storage: UnsafeMutableRawPointer) -> AnyFeatureMap {
    AnyFeatureMap(
      base: storage + (halo * rowStride + halo * pixelStride) * element.byteCount, element: element, height: height,
      width: width, channels: channels, pixelStride: pixelStride, rowStride: rowStride)
  }

  /// The map whose storage starts at `storage` (the halo's first float).
  public func map(at storage: UnsafeMutablePointer<Float>) -> FeatureMap {
    FeatureMap(
      base: storage + halo * rowStride + halo * pixelStride, height: height, width: width, channels: channels,
      pixelStride: pixelStride, rowStride: rowStride)
  }

  /// Zeroes the halo (the interior is left alone). Needed whenever the storage may hold
  /// another tensor's data, as arena slots do.
  public func clearHalo(at storage: UnsafeMutablePointer<Float>) { clearHalo(at: UnsafeMutableRawPointer(storage)) }

  /// Zeroes the halo of a map of either precision (zero bits are 0.0 in both).
  public func clearHalo(at storage: UnsafeMutableRawPointer) {
    guard halo > 0 else { return }
    let b = element.byteCount
    let fullRows = halo * rowStride * b
    storage.initializeMemory(as: UInt8.self, repeating: 0, count: fullRows)
    (storage + (height + halo) * rowStride * b).initializeMemory(as: UInt8.self, repeating: 0, count: fullRows)
    for y in 0..<height {
      let row = storage + (y + halo) * rowStride * b
      row.initializeMemory(as: UInt8.self, repeating: 0, count: halo * pixelStride * b)
      (row + (width + halo) * pixelStride * b).initializeMemory(
        as: UInt8.self, repeating: 0, count: halo * pixelStride * b)
    }
  }

  public var description: String {
    "\(channels)x\(height)x\(width) (CxHxW" + (halo > 0 ? ", halo \(halo)" : "")
      + (element == .float16 ? ", fp16" : "")
      + (pixelStride != channels ? ", pixel stride \(pixelStride)" : "") + ")"
  }
}

/// Copies a plain `[C][H][W]` float array into a map (the network's boundary layout).
public func copyFromNCHW(_ source: UnsafePointer<Float>, to map: FeatureMap) {
  let plane = map.height * map.width
  for y in 0..<map.height {
    for x in 0..<map.width {
      let dst = map.pixel(y, x)
      let src = source + y * map.width + x
      for c in 0..<map.channels { dst[c] = src[c * plane] }
    }
  }
}

/// Copies a map of either precision out to a plain `[C][H][W]` float array.
public func copyToNCHW(_ map: AnyFeatureMap, _ destination: UnsafeMutablePointer<Float>) {
  switch map.element {
  case .float32: copyToNCHW(map.float32, destination)
  case .float16:
    let m = map.float16
    let plane = m.height * m.width
    for y in 0..<m.height {
      for x in 0..<m.width {
        let src = m.pixel(y, x)
        for c in 0..<m.channels { destination[c * plane + y * m.width + x] = Float(src[c]) }
      }
    }
  }
}

/// Copies a map out to a plain `[C][H][W]` float array.
public func copyToNCHW(_ map: FeatureMap, _ destination: UnsafeMutablePointer<Float>) {
  let plane = map.height * map.width
  for y in 0..<map.height {
    for x in 0..<map.width {
      let src = map.pixel(y, x)
      let dst = destination + y * map.width + x
      for c in 0..<map.channels { dst[c * plane] = src[c] }
    }
  }
}
