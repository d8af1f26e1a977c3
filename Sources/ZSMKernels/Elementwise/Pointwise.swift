/// Applies `body` to every channel vector of rows `rows` of `maps`, 16 lanes at a time, with a
/// lane-by-lane tail for channel counts that are not a multiple of 16.
@inline(__always)
func forEachPixelChunk(
  height: Int, width: Int, channels: Int, rows: Range<Int>,
  _ body: (_ y: Int, _ x: Int, _ c: Int, _ lanes: Int) -> Void
) {
  for y in rows {
    for x in 0..<width {
      var c = 0
      while c &+ 16 <= channels {
        body(y, x, c, 16)
        c &+= 16
      }
      if c < channels { body(y, x, c, channels &- c) }
    }
  }
}

@inline(__always)
func loadLanes<E: MapElement>(_ p: UnsafeMutablePointer<E>, _ lanes: Int) -> SIMD16<Float> {
  if lanes == 16 { return E.load16(p) }
  var v = SIMD16<Float>()
  for i in 0..<lanes { v[i] = E.load1(p + i) }
  return v
}

@inline(__always)
func storeLanes<E: MapElement>(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<E>, _ lanes: Int) {
  if lanes == 16 {
    E.store16(v, p)
    return
  }
  for i in 0..<lanes { E.store1(v[i], p + i) }
}

/// `output = alpha * a + beta * b`, elementwise over rows `rows` (any of the maps may alias).
public func scaleAdd(
  _ a: FeatureMap, alpha: Float, _ b: FeatureMap, beta: Float, output: FeatureMap, rows: Range<Int>
) {
  forEachPixelChunk(height: output.height, width: output.width, channels: output.channels, rows: rows) {
    y, x, c, lanes in
    let va = loadLanes(a.pixel(y, x) + c, lanes)
    let vb = loadLanes(b.pixel(y, x) + c, lanes)
    storeLanes(va * alpha + vb * beta, output.pixel(y, x) + c, lanes)
  }
}

/// `output = factor * input`, elementwise over rows `rows`.
public func scale(_ input: FeatureMap, by factor: Float, output: FeatureMap, rows: Range<Int>) {
  scaleRows(input, by: factor, output: output, rows: rows)
}

/// `output = factor * input` between maps of either precision (with factor 1, a copy or a
/// precision conversion).
public func scale(_ input: AnyFeatureMap, by factor: Float, output: AnyFeatureMap, rows: Range<Int>) {
  switch (input.element, output.element) {
  case (.float32, .float32): scaleRows(input.float32, by: factor, output: output.float32, rows: rows)
  case (.float16, .float16): scaleRows(input.float16, by: factor, output: output.float16, rows: rows)
  case (.float32, .float16): scaleRows(input.float32, by: factor, output: output.float16, rows: rows)
  case (.float16, .float32): scaleRows(input.float16, by: factor, output: output.float32, rows: rows)
  }
}

// Inlined so the fp32 entry point holds the loop itself (Tests/ARM64/loops.py checks it by name).
@inline(__always)
func scaleRows<I: MapElement, O: MapElement>(
  _ input: FeatureMapOf<I>, by factor: Float, output: FeatureMapOf<O>, rows: Range<Int>
) {
  forEachPixelChunk(height: output.height, width: output.width, channels: output.channels, rows: rows) {
    y, x, c, lanes in
    storeLanes(loadLanes(input.pixel(y, x) + c, lanes) * factor, output.pixel(y, x) + c, lanes)
  }
}

/// Logistic sigmoid, elementwise (`output` may alias `input`).
public func sigmoid(_ input: FeatureMap, output: FeatureMap, rows: Range<Int>) {
  forEachPixelChunk(height: output.height, width: output.width, channels: output.channels, rows: rows) {
    y, x, c, lanes in
    storeLanes(vectorSigmoid(loadLanes(input.pixel(y, x) + c, lanes)), output.pixel(y, x) + c, lanes)
  }
}

/// Hyperbolic tangent, elementwise (`output` may alias `input`).
public func tanh(_ input: FeatureMap, output: FeatureMap, rows: Range<Int>) {
  forEachPixelChunk(height: output.height, width: output.width, channels: output.channels, rows: rows) {
    y, x, c, lanes in
    storeLanes(vectorTanh(loadLanes(input.pixel(y, x) + c, lanes)), output.pixel(y, x) + c, lanes)
  }
}

/// The ConvLSTM state update. `gates` holds `4C` channels in the order i, f, o, g (the
/// network's order, not torch.nn.LSTM's); `cellIn` is the (aligned) previous cell state.
///
///     c = sigmoid(f) * cellIn + sigmoid(i) * tanh(g);   h = sigmoid(o) * tanh(c)
///
/// `cellOut` may alias `cellIn`.
public func lstmUpdate(
  gates: FeatureMap, cellIn: FeatureMap, cellOut: FeatureMap, hiddenOut: FeatureMap, rows: Range<Int>
) {
  lstmRows(gates: gates, cellIn: cellIn, cellOut: cellOut, hiddenOut: hiddenOut, rows: rows)
}

/// `lstmUpdate` on maps that all have the element type of `cellOut`.
public func lstmUpdate(
  gates: AnyFeatureMap, cellIn: AnyFeatureMap, cellOut: AnyFeatureMap, hiddenOut: AnyFeatureMap, rows: Range<Int>
) {
  precondition(
    gates.element == cellOut.element && cellIn.element == cellOut.element && hiddenOut.element == cellOut.element,
    "lstmUpdate: mixed precisions")
  switch cellOut.element {
  case .float32:
    lstmRows(
      gates: gates.float32, cellIn: cellIn.float32, cellOut: cellOut.float32, hiddenOut: hiddenOut.float32,
      rows: rows)
  case .float16:
    lstmRows(
      gates: gates.float16, cellIn: cellIn.float16, cellOut: cellOut.float16, hiddenOut: hiddenOut.float16,
      rows: rows)
  }
}

// Inlined so the fp32 entry point holds the loop itself (Tests/ARM64/loops.py checks it by name).
@inline(__always)
func lstmRows<E: MapElement>(
  gates: FeatureMapOf<E>, cellIn: FeatureMapOf<E>, cellOut: FeatureMapOf<E>, hiddenOut: FeatureMapOf<E>,
  rows: Range<Int>
) {
  let channels = cellOut.channels
  forEachPixelChunk(height: cellOut.height, width: cellOut.width, channels: channels, rows: rows) {
    y, x, c, lanes in
    let z = gates.pixel(y, x) + c
    let i = vectorSigmoid(loadLanes(z, lanes))
    let f = vectorSigmoid(loadLanes(z + channels, lanes))
    let o = vectorSigmoid(loadLanes(z + 2 &* channels, lanes))
    let g = vectorTanh(loadLanes(z + 3 &* channels, lanes))
    let cell = (f * loadLanes(cellIn.pixel(y, x) + c, lanes)).addingProduct(i, g)
    storeLanes(cell, cellOut.pixel(y, x) + c, lanes)
    storeLanes(o * vectorTanh(cell), hiddenOut.pixel(y, x) + c, lanes)
  }
}
