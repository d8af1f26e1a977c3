import ZSMKernels

/// The runtime's tunables, process-wide. Set them once at start-up (from a board file:
/// `apply(_:)`), before building networks or layers: `deformableTilePixels` is read when a
/// `DeformableConv2D` is created, `rowChunksPerThread` on every row-split parallel operation.
public enum RuntimeTuning {
  /// Output pixels per deformable-convolution tile (columns buffer: tile x 9 x C floats per thread).
  nonisolated(unsafe) public static var deformableTilePixels = DeformableConv.defaultTilePixels
  /// Row chunks per thread when a layer's output rows are split over a `WorkerPool`.
  nonisolated(unsafe) public static var rowChunksPerThread = 4

  /// The fewest output rows a row chunk should have (`WorkerPool.rowChunks`).
  nonisolated(unsafe) public static var minimumRowsPerChunk = 4
  /// CPUs the worker pools' threads are pinned to (a board's `runtime.affinity`; empty: not
  /// pinned). Read when a pool is created.
  nonisolated(unsafe) public static var affinity: [Int] = []
  /// Whether eligible stride-1 3x3 convolutions get Winograd F(4,3) weights at load and run
  /// by Winograd (`WinogradPolicy`); a board's `tuning.winograd`. Read when weights are packed.
  nonisolated(unsafe) public static var winograd = true

  /// Applies a board's tuning.
  public static func apply(_ tuning: BoardProfile.Tuning) {
    deformableTilePixels = tuning.deformableTilePixels
    rowChunksPerThread = tuning.rowChunksPerThread
    winograd = tuning.winograd
  }

  /// Applies a board's tuning and its runtime CPUs (`runtime.affinity`).
  public static func apply(_ board: BoardProfile) {
    apply(board.tuning)
    affinity = board.affinity
  }
}
