import ZSMKernels

// Row-parallel wrappers of the elementwise kernels, for running them on a WorkerPool
// without allocating (see `ParallelJob`).

/// `output = scale * U2(input)` (x2 bilinear, half-pixel centres).
public struct Upsample2x: RowJob {
  public let input: FeatureMap
  public let output: FeatureMap
  public let scale: Float

  public init(input: FeatureMap, output: FeatureMap, scale: Float = 1) {
    self.input = input
    self.output = output
    self.scale = scale
  }

  public func run(rows: Range<Int>, worker: Int) { upsample2x(input: input, output: output, scale: scale, rows: rows) }
  public func run(pool: WorkerPool) { pool.forEachRowRange(rows: output.height, self) }
}

/// Pixel shuffle x2 of phase-major channels (see `pixelShuffle2x`), optionally with LeakyReLU.
public struct PixelShuffle2x: RowJob {
  public let input: FeatureMap
  public let output: FeatureMap
  public let leaky: Bool

  public init(input: FeatureMap, output: FeatureMap, leaky: Bool) {
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
  public let gates: FeatureMap
  public let cellIn: FeatureMap
  public let cellOut: FeatureMap
  public let hiddenOut: FeatureMap

  public init(gates: FeatureMap, cellIn: FeatureMap, cellOut: FeatureMap, hiddenOut: FeatureMap) {
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
  public let input: FeatureMap
  public let factor: Float
  public let output: FeatureMap

  public init(_ input: FeatureMap, by factor: Float, output: FeatureMap) {
    self.input = input
    self.factor = factor
    self.output = output
  }

  public func run(rows: Range<Int>, worker: Int) { scale(input, by: factor, output: output, rows: rows) }
  public func run(pool: WorkerPool) { pool.forEachRowRange(rows: output.height, self) }
}
