import ZSMKernels

// Row-parallel wrappers of the elementwise kernels, for running them on a WorkerPool
// without allocating (see `ParallelJob`).

/// `output = scale * U2(input)` (x2 bilinear, half-pixel centres).
public struct Upsample2x: RowJob {
  public let input: AnyFeatureMap
  public let output: AnyFeatureMap
  public let scale: Float

  public init(input: FeatureMap, output: FeatureMap, scale: Float = 1) {
    self.init(input: AnyFeatureMap(input), output: AnyFeatureMap(output), scale: scale)
  }

  /// Between maps of either precision.
  public init(input: AnyFeatureMap, output: AnyFeatureMap, scale: Float = 1) {
    self.input = input
    self.output = output
    self.scale = scale
  }

  public func run(rows: Range<Int>, worker: Int) { upsample2x(input: input, output: output, scale: scale, rows: rows) }
  public func run(pool: WorkerPool) { pool.forEachRowRange(rows: output.height, self) }
}

/// Pixel shuffle x2 of phase-major channels (see `pixelShuffle2x`), optionally with LeakyReLU.
public struct PixelShuffle2x: RowJob {
  public let input: AnyFeatureMap
  public let output: AnyFeatureMap
  public let leaky: Bool

  public init(input: FeatureMap, output: FeatureMap, leaky: Bool) {
    self.init(input: AnyFeatureMap(input), output: AnyFeatureMap(output), leaky: leaky)
  }

  /// Between maps of either precision.
  public init(input: AnyFeatureMap, output: AnyFeatureMap, leaky: Bool) {
    self.input = input
    self.output = output
    self.leaky = leaky
  }

  public func run(rows: Range<Int>, worker: Int) {
    pixelShuffle2x(input: input, output: output, leaky: leaky, rows: rows)
  }
  /// Shuffles input rows `rows` (all by default).
  public func run(pool: WorkerPool, rows: Range<Int>? = nil) {
    pool.forEachRowRange(rows: rows ?? 0..<input.height, self)
  }
}

/// The ConvLSTM state update (gates i, f, o, g; see `lstmUpdate`).
public struct LSTMUpdate: RowJob {
  public let gates: AnyFeatureMap
  public let cellIn: AnyFeatureMap
  public let cellOut: AnyFeatureMap
  public let hiddenOut: AnyFeatureMap

  public init(gates: FeatureMap, cellIn: FeatureMap, cellOut: FeatureMap, hiddenOut: FeatureMap) {
    self.init(
      gates: AnyFeatureMap(gates), cellIn: AnyFeatureMap(cellIn), cellOut: AnyFeatureMap(cellOut),
      hiddenOut: AnyFeatureMap(hiddenOut))
  }

  /// On maps that all have one precision.
  public init(gates: AnyFeatureMap, cellIn: AnyFeatureMap, cellOut: AnyFeatureMap, hiddenOut: AnyFeatureMap) {
    self.gates = gates
    self.cellIn = cellIn
    self.cellOut = cellOut
    self.hiddenOut = hiddenOut
  }

  public func run(rows: Range<Int>, worker: Int) {
    lstmUpdate(gates: gates, cellIn: cellIn, cellOut: cellOut, hiddenOut: hiddenOut, rows: rows)
  }
  public func run(pool: WorkerPool) { pool.forEachRowRange(rows: cellOut.height, self) }
}

/// `output = alpha * a + beta * b`.
public struct ScaleAdd: RowJob {
  public let a: FeatureMap
  public let alpha: Float
  public let b: FeatureMap
  public let beta: Float
  public let output: FeatureMap

  public init(_ a: FeatureMap, alpha: Float, _ b: FeatureMap, beta: Float, output: FeatureMap) {
    self.a = a
    self.alpha = alpha
    self.b = b
    self.beta = beta
    self.output = output
  }

  public func run(rows: Range<Int>, worker: Int) {
    scaleAdd(a, alpha: alpha, b, beta: beta, output: output, rows: rows)
  }
  public func run(pool: WorkerPool) { pool.forEachRowRange(rows: output.height, self) }
}

/// `output = factor * input` (a copy for factor 1; used to build concatenations).
public struct Scale: RowJob {
  public let input: AnyFeatureMap
  public let factor: Float
  public let output: AnyFeatureMap

  public init(_ input: FeatureMap, by factor: Float, output: FeatureMap) {
    self.init(AnyFeatureMap(input), by: factor, output: AnyFeatureMap(output))
  }

  /// Between maps of either precision (factor 1: a copy or a conversion).
  public init(_ input: AnyFeatureMap, by factor: Float, output: AnyFeatureMap) {
    self.input = input
    self.factor = factor
    self.output = output
  }

  public func run(rows: Range<Int>, worker: Int) { scale(input, by: factor, output: output, rows: rows) }
  public func run(pool: WorkerPool) { pool.forEachRowRange(rows: output.height, self) }
}
