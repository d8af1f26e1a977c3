/// Pixel shuffle x2 (depth to space) with an optional LeakyReLU, for input rows `rows`.
///
/// PyTorch's definition is `out[c, 2h+a, 2w+b] = in[4c + 2a + b, h, w]`. This kernel expects
/// the input channels in *phase-major* order, `in'[(2a+b)*C + c] = in[4c + 2a + b]`, so each
/// output pixel is one contiguous channel vector; convolutions produce that order for free when
/// their weights are packed with `pixelShufflePhaseMajorOrder(channels:)`.
public func pixelShuffle2x(input: FeatureMap, output: FeatureMap, leaky: Bool, rows: Range<Int>) {
  shuffleRows(input: input, output: output, leaky: leaky, rows: rows)
}

/// `pixelShuffle2x` between maps of either precision (fp16 values are widened, shuffled and
/// activated in fp32, and rounded back: the same values as an fp16 LeakyReLU).
public func pixelShuffle2x(input: AnyFeatureMap, output: AnyFeatureMap, leaky: Bool, rows: Range<Int>) {
  switch (input.element, output.element) {
  case (.float32, .float32): shuffleRows(input: input.float32, output: output.float32, leaky: leaky, rows: rows)
  case (.float32, .float16): shuffleRows(input: input.float32, output: output.float16, leaky: leaky, rows: rows)
  case (.float16, .float32): shuffleRows(input: input.float16, output: output.float32, leaky: leaky, rows: rows)
  case (.float16, .float16): shuffleRows(input: input.float16, output: output.float16, leaky: leaky, rows: rows)
  }
}

// Inlined so the fp32 entry point holds the loop itself (Tests/ARM64/loops.py checks it by name).
@inline(__always)
func shuffleRows<I: MapElement, O: MapElement>(
  input: FeatureMapOf<I>, output: FeatureMapOf<O>, leaky: Bool, rows: Range<Int>
) {
  let channels = output.channels
  for h in rows {
    for w in 0..<input.width {
      let src = UnsafePointer(input.pixel(h, w))
      for phase in 0..<4 {
        let dst = output.pixel(2 &* h &+ phase / 2, 2 &* w &+ phase % 2)
        let s = src + phase &* channels
        var c = 0
        while c &+ 16 <= channels {
          let v = I.load16(s + c)
          O.store16(leaky ? leakyRelu(v) : v, dst + c)
          c &+= 16
        }
        while c < channels {
          let v = I.load1(s + c)
          O.store1(leaky ? leakyRelu(v) : v, dst + c)
          c &+= 1
        }
      }
    }
  }
}

/// The packing order (packed output channel -> PyTorch output channel) that makes a
/// convolution with `4 * channels` outputs emit pixel-shuffle phases contiguously.
public func pixelShufflePhaseMajorOrder(channels: Int) -> (Int) -> Int {
  { packed in
    let phase = packed / channels
    let c = packed % channels
    return 4 * c + phase
  }
}
