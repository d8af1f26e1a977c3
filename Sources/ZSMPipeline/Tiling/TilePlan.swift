import ZSMModel

/// A rectangle of LR pixels.
public struct PixelRect: Equatable, Hashable, Sendable, CustomStringConvertible {
  public var x: Int
  public var y: Int
  public var width: Int
  public var height: Int

  public init(x: Int, y: Int, width: Int, height: Int) {
    self.x = x
    self.y = y
    self.width = width
    self.height = height
  }

  public var description: String { "\(width)x\(height)+\(x)+\(y)" }
}

/// How a frame too large for the memory cap is cut into overlapping spatial tiles.
///
/// The frame is split into square *cores* of `core` LR pixels (the last row and column take
/// what is left). The network runs on each core grown by `halo` pixels on every side (clipped
/// to the frame): its *region*. Only the core's outputs are kept, so every output pixel comes
/// from exactly one tile and no blending is needed. Two rules make a tile compute what the
/// whole frame would:
/// - cores and halo are multiples of 4, so every region starts on the 4-pixel grid of the
///   feature pyramid (its stride-2 convolutions sample the same pixels as the whole frame's);
///   a region that reaches the frame's right or bottom edge ends there and is zero-padded to a
///   multiple of 4 exactly as the whole frame is;
/// - the halo covers the distance over which a pixel noticeably affects the output
///   (`TilePlan.halo(for:)`): the zero padding at a region's inner edges changes only
///   outputs inside the halo, which are thrown away.
public struct TilePlan: Equatable, Sendable {
  public struct Tile: Equatable, Sendable {
    /// The LR pixels whose outputs this tile supplies.
    public let core: PixelRect
    /// The LR pixels the network runs on: the core and its halo, within the frame.
    public let region: PixelRect
  }

  public let frameWidth: Int
  public let frameHeight: Int
  public let core: Int
  public let halo: Int
  /// Every tile; those with equal region sizes are consecutive (the network is planned once
  /// per region size and window), the largest regions first.
  public let tiles: [Tile]

  /// The tiles of a `width x height` frame; `core` (≥ 4) and `halo` (≥ 0) are rounded up to
  /// multiples of 4.
  public init(width: Int, height: Int, core: Int, halo: Int) {
    precondition(width >= 1 && height >= 1 && core >= 1 && halo >= 0)
    let core = (core + 3) / 4 * 4
    let halo = (halo + 3) / 4 * 4
    frameWidth = width
    frameHeight = height
    self.core = core
    self.halo = halo
    var tiles: [Tile] = []
    for y0 in stride(from: 0, to: height, by: core) {
      for x0 in stride(from: 0, to: width, by: core) {
        let c = PixelRect(x: x0, y: y0, width: min(core, width - x0), height: min(core, height - y0))
        let rx = max(0, x0 - halo)
        let ry = max(0, y0 - halo)
        let region = PixelRect(
          x: rx, y: ry, width: min(width, c.x + c.width + halo) - rx, height: min(height, c.y + c.height + halo) - ry)
        tiles.append(Tile(core: c, region: region))
      }
    }
    // Group equal region sizes, largest first (the run reaches its peak memory at once, not
    // hours in), keeping raster order within a group.
    var order: [PixelRect] = []
    for t in tiles where !order.contains(where: { $0.width == t.region.width && $0.height == t.region.height }) {
      order.append(t.region)
    }
    order.sort { $0.width * $0.height > $1.width * $1.height }
    self.tiles = order.flatMap { shape in
      tiles.filter { $0.region.width == shape.width && $0.region.height == shape.height }
    }
  }

  /// The largest region (what one tile's buffers and arena are sized for).
  public var largestRegion: (width: Int, height: Int) {
    (tiles.map(\.region.width).max() ?? 0, tiles.map(\.region.height).max() ?? 0)
  }

  /// LR pixels the network runs on per window, over the frame's own (1 when untiled).
  public var overhead: Double {
    Double(tiles.reduce(0) { $0 + $1.region.width * $1.region.height }) / Double(frameWidth * frameHeight)
  }

  /// The halo, in LR pixels, for a model: how far a change in the input noticeably moves the
  /// output. The theoretical receptive field of Zooming Slow-Mo spans hundreds of pixels (the
  /// recurrent state alignment and the deformable offsets widen it at every step), but what a
  /// far pixel contributes decays fast. Measured on the shipped model (16 trunk convolutions),
  /// held-out carphone, largest |core - whole frame| (TilingTests): 2.0e-3 at 8 pixels, 1.0e-4
  /// at 16, 3.3e-6 at 24. The reach grows with the trunk's depth, about as its square root
  /// for a trained network; the released model (90 trunk convolutions) would need about
  /// 16 * sqrt(90 / 16) = 38 pixels for 1e-4, and gets 60. Rule: half the trunk convolutions
  /// plus 15, on the 4-pixel grid, within 24...64.
  public static func halo(for config: ZSMConfig) -> Int {
    // Residual trunk depth dominates the spatial reach: 2 convs per block, front and back.
    let convs = 2 * (config.frontRBs + config.backRBs)
    return min(64, max(24, (convs / 2 + 15) / 4 * 4))
  }
}
