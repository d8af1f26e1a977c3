import ZSMKernels

/// The runtime's tunables, process-wide. Set them once at start-up (from a board file:
/// `apply(_:)`), before building networks or layers: `deformableTilePixels` is read when a
/// `DeformableConv2D` is created, `rowChunksPerThread` on every row-split parallel operation.
public enum RuntimeTuning {
  /// Output pixels per deformable-convolution tile (columns buffer: tile x 9 x C floats per thread).
  nonisolated(unsafe) public static var deformableTilePixels = DeformableConv.defaultTilePixels
  /// Row chunks per thread when a layer's output rows are split over a `WorkerPool`.
  nonisolated(unsafe) public static var rowChunksPerThread = 4

  /// Applies a board's tuning.
  public static func apply(_ tuning: BoardProfile.Tuning) {
    deformableTilePixels = tuning.deformableTilePixels
    rowChunksPerThread = tuning.rowChunksPerThread
  }
}
