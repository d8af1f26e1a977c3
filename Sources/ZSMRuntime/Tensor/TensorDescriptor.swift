import ZSMKernels

/// Geometry of one channels-last feature map in memory (see `FeatureMap` in ZSMKernels).
///
/// | field | meaning |
/// |---|---|
/// | `height`, `width`, `channels` | the logical map |
/// | `halo` | zero border around the map, in pixels (1 for 3x3 convolution inputs, else 0) |
/// | `pixelStride` | floats from one pixel to the next (>= channels) |
///
/// Memory order is `[height + 2*halo][width + 2*halo][pixelStride]` floats. A concatenation
/// `[a ‖ b]` is one descriptor whose channel slices are produced in place.
public struct TensorDescriptor: Sendable, Equatable, CustomStringConvertible {
  public var height: Int
  public var width: Int
  public var channels: Int
  public var halo: Int
  public var pixelStride: Int

  public init(height: Int, width: Int, channels: Int, halo: Int = 0, pixelStride: Int? = nil) {
    self.height = height
    self.width = width
    self.channels = channels
    self.halo = halo
    self.pixelStride = pixelStride ?? channels
  }

  public var rowStride: Int { (width + 2 * halo) * pixelStride }
  /// Floats the map occupies, halo included.
  public var floatCount: Int { (height + 2 * halo) * rowStride }
  public var byteCount: Int { floatCount * MemoryLayout<Float>.stride }

  /// The map whose storage starts at `storage` (the halo's first float).
  public func map(at storage: UnsafeMutablePointer<Float>) -> FeatureMap {
    FeatureMap(
      base: storage + halo * rowStride + halo * pixelStride, height: height, width: width, channels: channels,
      pixelStride: pixelStride, rowStride: rowStride)
  }

  /// Zeroes the halo (the interior is left alone). Needed whenever the storage may hold
  /// another tensor's data, as arena slots do.
  public func clearHalo(at storage: UnsafeMutablePointer<Float>) {
    guard halo > 0 else { return }
    let fullRows = halo * rowStride
    storage.update(repeating: 0, count: fullRows)
    (storage + (height + halo) * rowStride).update(repeating: 0, count: fullRows)
    for y in 0..<height {
      let row = storage + (y + halo) * rowStride
      row.update(repeating: 0, count: halo * pixelStride)
      (row + (width + halo) * pixelStride).update(repeating: 0, count: halo * pixelStride)
    }
  }

  public var description: String {
    "\(channels)x\(height)x\(width) (CxHxW" + (halo > 0 ? ", halo \(halo)" : "")
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
