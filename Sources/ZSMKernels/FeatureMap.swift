/// A view of one channels-last feature map: `height x width` pixels of `channels` floats.
///
/// Element `(y, x, c)` is at `base[y * rowStride + x * pixelStride + c]`. The view does not own
/// memory. Layout rules the kernels rely on:
/// - `pixelStride >= channels`; a map may be a channel slice of a wider buffer (this is how a
///   concatenation costs nothing: producers write straight into their slice).
/// - Inputs of 3x3 convolutions carry a one-pixel zero border (halo): rows -1 and `height`, and
///   columns -1 and `width`, are readable and hold zeros.
/// - Convolutions write whole 16-lane vectors for each output channel block except the last,
///   which is stored lane by lane, so no write goes past channel `channels - 1`.
public struct FeatureMap {
  public var base: UnsafeMutablePointer<Float>
  public var height: Int
  public var width: Int
  public var channels: Int
  public var pixelStride: Int
  public var rowStride: Int

  @inlinable
  public init(
    base: UnsafeMutablePointer<Float>, height: Int, width: Int, channels: Int, pixelStride: Int, rowStride: Int
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
  public func channelSlice(_ start: Int, _ count: Int) -> FeatureMap {
    FeatureMap(
      base: base + start, height: height, width: width, channels: count, pixelStride: pixelStride,
      rowStride: rowStride)
  }

  /// Rows `start ..< start + count` of this map.
  @inlinable
  public func rowSlice(_ start: Int, _ count: Int) -> FeatureMap {
    FeatureMap(
      base: base + start * rowStride, height: count, width: width, channels: channels, pixelStride: pixelStride,
      rowStride: rowStride)
  }

  /// Pointer to channel 0 of pixel `(y, x)`.
  @inlinable @inline(__always)
  public func pixel(_ y: Int, _ x: Int) -> UnsafeMutablePointer<Float> {
    base + (y &* rowStride &+ x &* pixelStride)
  }
}
