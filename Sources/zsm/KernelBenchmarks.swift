import ZSMKernels
import ZSMRuntime

#if ZSM_INT8
  import ZSMKernelsInt8
#endif

/// One benchmark: a kernel on one of the network's real layer shapes, with its buffers.
final class KernelBenchmark {
  let name: String
  /// Floating-point operations of one call (a multiply-add counts 2).
  let flops: Double
  let run: (WorkerPool) -> Void

  init(name: String, flops: Double, run: @escaping (WorkerPool) -> Void) {
    self.name = name
    self.flops = flops
    self.run = run
  }
}

enum KernelBenchmarks {
  /// The layer shapes of docs/architecture.md §11 that dominate the network's time.
  static func all() -> [KernelBenchmark] {
    [
      conv3x3(cin: 64, cout: 64, width: 180, height: 144),
      conv3x3F16(cin: 64, cout: 64, width: 180, height: 144),
    ] + int8Benchmarks() + [
      conv3x3(cin: 64, cout: 64, width: 360, height: 288),
      conv3x3(cin: 128, cout: 64, width: 180, height: 144),
      conv3x3(cin: 64, cout: 256, width: 180, height: 144),
      conv3x3(cin: 64, cout: 216, width: 180, height: 144),
      conv1x1(cin: 128, cout: 64, width: 180, height: 144),
      deform3x3(channels: 64, groups: 8, width: 180, height: 144),
      deform3x3(channels: 16, groups: 2, width: 80, height: 60),
    ]
  }

  /// Stride-1 3x3 layers of the released (nf 64) and shipped compact (nf 16) networks, each
  /// direct and by Winograd F(4,3) (`-winograd`: FLOPs counted as the direct convolution's, so
  /// its GFLOP/s is the effective rate and its ratio to the direct line the speed-up).
  static func winogradBenchmarks() -> [KernelBenchmark] {
    // `direct`: whether the direct line is added here (the others are in `all()` already).
    let shapes: [(cin: Int, cout: Int, width: Int, height: Int, direct: Bool)] = [
      (64, 64, 180, 144, false), (64, 64, 80, 60, true), (64, 64, 40, 30, true), (64, 64, 20, 15, true),
      (128, 64, 180, 144, false), (64, 216, 180, 144, false), (64, 256, 180, 144, false), (64, 216, 80, 60, true),
      // ZSM-Lite (nf 16): residual blocks, LSTM gate conv, offset/mask conv, offset and fea convs,
      // then the x4 tail (upconv1, upconv2, HRconv).
      (16, 16, 80, 60, true), (32, 64, 80, 60, true), (16, 54, 80, 60, true), (32, 16, 80, 60, true),
      (16, 64, 80, 60, true), (16, 64, 160, 120, true), (16, 16, 320, 240, true),
    ]
    var cases: [KernelBenchmark] = []
    for s in shapes {
      if s.direct { cases.append(conv3x3(cin: s.cin, cout: s.cout, width: s.width, height: s.height)) }
      cases.append(conv3x3Winograd(cin: s.cin, cout: s.cout, width: s.width, height: s.height))
    }
    return cases
  }

  /// By Winograd, the weight transform included (the network makes it before every run).
  static func conv3x3Winograd(cin: Int, cout: Int, width: Int, height: Int) -> KernelBenchmark {
    let input = randomTensor(TensorDescriptor(height: height, width: width, channels: cin, halo: 1), seed: 1)
    let output = TensorStorage(TensorDescriptor(height: height, width: width, channels: cout))
    let layout = WinogradLayout(inputChannels: cin, outputChannels: cout)
    let buffer = WinogradBuffer(floats: layout.packedWeightCount, outputChannels: layout.paddedOutputChannels)
    var conv = Conv2D(
      name: "bench", kernelSize: 3, epilogue: .leakyRelu,
      weights: randomWeights(cin: cin, cout: cout, taps: 9, seed: 2))
    conv.winograd = WinogradConvWeights(layout: layout, buffer: buffer, bias: conv.weights.bias)
    let perWorker = conv.winogradFloatsPerWorker(outputWidth: width)
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 64 * perWorker)
    return KernelBenchmark(
      name: "conv3x3-\(cin)-\(cout)-\(width)x\(height)-winograd", flops: 2 * Double(cin * cout * 9 * width * height)
    ) { pool in
      buffer.invalidate()
      conv.runWinograd(
        input: AnyFeatureMap(input.view.map), output: AnyFeatureMap(output.view.map), residual: nil, pool: pool,
        scratch: scratch, scratchPerWorker: perWorker)
    }
  }

  /// Random layer weights (PyTorch layout) packed into their own storage.
  static func randomWeights(cin: Int, cout: Int, taps: Int, seed: UInt64) -> PackedConvWeights {
    var rng = SplitMix(seed: seed)
    let layout = ConvWeightLayout(inputChannels: cin, outputChannels: cout, taps: taps)
    let scale = Float(1 / Double(cin * taps).squareRoot())
    let w = (0..<(cout * cin * taps)).map { _ in rng.uniform() * scale }
    let b = (0..<cout).map { _ in rng.uniform() * 0.1 }
    let storage = WeightStorage(floatCount: WeightStorage.floatCount(for: layout))
    keepAlive.append(storage)
    return w.withUnsafeBufferPointer { wp in
      b.withUnsafeBufferPointer { bp in storage.pack(layout, weights: wp.baseAddress!, bias: bp.baseAddress!) }
    }
  }

  nonisolated(unsafe) static var keepAlive: [AnyObject] = []

  static func randomTensor(_ d: TensorDescriptor, seed: UInt64, range: Float = 1) -> TensorStorage {
    let t = TensorStorage(d)
    var rng = SplitMix(seed: seed)
    let m = t.view.map
    for y in 0..<d.height {
      for x in 0..<d.width {
        let p = m.pixel(y, x)
        for c in 0..<d.channels { p[c] = rng.uniform() * range }
      }
    }
    return t
  }

  static func conv3x3(cin: Int, cout: Int, width: Int, height: Int) -> KernelBenchmark {
    let input = randomTensor(TensorDescriptor(height: height, width: width, channels: cin, halo: 1), seed: 1)
    let output = TensorStorage(TensorDescriptor(height: height, width: width, channels: cout))
    let conv = Conv2D(
      name: "bench", kernelSize: 3, epilogue: .leakyRelu,
      weights: randomWeights(cin: cin, cout: cout, taps: 9, seed: 2))
    return KernelBenchmark(
      name: "conv3x3-\(cin)-\(cout)-\(width)x\(height)", flops: 2 * Double(cin * cout * 9 * width * height)
    ) { pool in
      conv.runUnchecked(input: input.view.map, output: output.view.map, residual: nil, pool: pool)
    }
  }

  static func conv1x1(cin: Int, cout: Int, width: Int, height: Int) -> KernelBenchmark {
    let input = randomTensor(TensorDescriptor(height: height, width: width, channels: cin), seed: 3)
    let output = TensorStorage(TensorDescriptor(height: height, width: width, channels: cout))
    let conv = Conv2D(
      name: "bench", kernelSize: 1, epilogue: .none, weights: randomWeights(cin: cin, cout: cout, taps: 1, seed: 4))
    return KernelBenchmark(
      name: "conv1x1-\(cin)-\(cout)-\(width)x\(height)", flops: 2 * Double(cin * cout * width * height)
    ) { pool in
      conv.runUnchecked(input: input.view.map, output: output.view.map, residual: nil, pool: pool)
    }
  }

  /// The same 3x3 conv with Float16 activations and weights (fp32 arithmetic): half the bytes.
  static func conv3x3F16(cin: Int, cout: Int, width: Int, height: Int) -> KernelBenchmark {
    let layout = ConvWeightLayout(inputChannels: cin, outputChannels: cout, taps: 9)
    let packed = randomWeights(cin: cin, cout: cout, taps: 9, seed: 2)
    let weights = UnsafeMutablePointer<Float16>.allocate(capacity: layout.packedWeightCount)
    for i in 0..<layout.packedWeightCount { weights[i] = Float16(packed.weights[i]) }
    let inRow = (width + 2) * cin
    let input = UnsafeMutablePointer<Float16>.allocate(capacity: (height + 2) * inRow)
    input.initialize(repeating: 0, count: (height + 2) * inRow)
    var rng = SplitMix(seed: 1)
    for y in 0..<height { for i in 0..<(width * cin) { input[(y + 1) * inRow + cin + i] = Float16(rng.uniform()) } }
    let output = UnsafeMutablePointer<Float16>.allocate(capacity: height * width * cout)
    let scratchPerWorker = conv3x3F16ScratchCount(layout: layout, inputWidth: width, outputWidth: width)
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 64 * scratchPerWorker)
    let job = F16ConvRows(
      input: FeatureMapF16(
        base: input + inRow + cin, height: height, width: width, channels: cin, pixelStride: cin, rowStride: inRow),
      weights: PackedConvWeightsF16(layout: layout, weights: weights, bias: packed.bias),
      output: FeatureMapF16(
        base: output, height: height, width: width, channels: cout, pixelStride: cout, rowStride: width * cout),
      scratch: scratch, scratchPerWorker: scratchPerWorker)
    return KernelBenchmark(
      name: "conv3x3-\(cin)-\(cout)-\(width)x\(height)-fp16", flops: 2 * Double(cin * cout * 9 * width * height)
    ) { pool in pool.forEachRowRange(rows: height, job) }
  }

  /// The int8 variants where the build has them (AVX-512 VNNI or AVX2).
  static func int8Benchmarks() -> [KernelBenchmark] {
    #if ZSM_INT8
      return [conv3x3Int8(cin: 64, cout: 64, width: 180, height: 144)]
    #else
      return []
    #endif
  }

  #if ZSM_INT8
    /// The same 3x3 conv with u8 activations and s8 weights (the build's int8 backend), fp32
    /// output with LeakyReLU.
    static func conv3x3Int8(cin: Int, cout: Int, width: Int, height: Int) -> KernelBenchmark {
      var rng = SplitMix(seed: 2)
      let source = (0..<(cout * cin * 9)).map { _ in rng.uniform() * 0.05 }
      let biasValues = (0..<cout).map { _ in rng.uniform() * 0.1 }
      let sizes = Int8ConvWeights.storage(inputChannels: cin, outputChannels: cout)
      let weights = UnsafeMutablePointer<Int8>.allocate(capacity: sizes.weightBytes)
      let correction = UnsafeMutablePointer<Int32>.allocate(capacity: sizes.perChannel)
      let scale = UnsafeMutablePointer<Float>.allocate(capacity: sizes.perChannel)
      let bias = UnsafeMutablePointer<Float>.allocate(capacity: sizes.perChannel)
      let packed = source.withUnsafeBufferPointer { w in
        biasValues.withUnsafeBufferPointer { b in
          Int8ConvWeights.pack(
            weights: w.baseAddress!, bias: b.baseAddress!, inputChannels: cin, outputChannels: cout,
            activationScale: 1 / 127, into: weights, correction: correction, outputScale: scale, bias: bias)
        }
      }
      let inRow = (width + 2) * cin
      let input = UnsafeMutablePointer<Int8Activation>.allocate(capacity: (height + 2) * inRow)
      input.initialize(repeating: int8Staged(code: 128), count: (height + 2) * inRow)
      for y in 0..<height {
        for i in 0..<(width * cin) { input[(y + 1) * inRow + cin + i] = int8Staged(code: Int32(rng.next() & 255)) }
      }
      let output = TensorStorage(TensorDescriptor(height: height, width: width, channels: cout))
      let job = Int8ConvRows(
        input: Int8ActivationMap(
          base: input + inRow + cin, height: height, width: width, channels: cin, pixelStride: cin, rowStride: inRow),
        weights: packed, output: output.view.map)
      return KernelBenchmark(
        name: "conv3x3-\(cin)-\(cout)-\(width)x\(height)-int8", flops: 2 * Double(cin * cout * 9 * width * height)
      ) { pool in
        withExtendedLifetime(output) { pool.forEachRowRange(rows: height, job) }
      }
    }
  #endif

  /// The deformable conv alone (sampling + multiply), on offsets of about 1 px like the
  /// network's and mask logits in [-2, 2]; flops counted as the dense 3x3 equivalent.
  static func deform3x3(channels: Int, groups: Int, width: Int, height: Int) -> KernelBenchmark {
    let input = randomTensor(TensorDescriptor(height: height, width: width, channels: channels), seed: 5)
    let offsets = randomTensor(TensorDescriptor(height: height, width: width, channels: 27 * groups), seed: 6, range: 2)
    let output = TensorStorage(TensorDescriptor(height: height, width: width, channels: channels))
    let dcn = DeformableConv2D(
      name: "bench", groups: groups, epilogue: .none,
      weights: randomWeights(cin: channels, cout: channels, taps: 9, seed: 7))
    let scratch = TensorStorage(TensorDescriptor(height: 1, width: 64, channels: dcn.scratchFloatsPerWorker))
    return KernelBenchmark(
      name: "deform3x3-\(channels)-\(channels)-g\(groups)-\(width)x\(height)",
      flops: 2 * Double(channels * channels * 9 * width * height)
    ) { pool in
      dcn.runUnchecked(
        input: input.view.map, offsetsAndMask: offsets.view.map, output: output.view.map, pool: pool,
        scratch: scratch.view.storage)
    }
  }
}

/// Small deterministic generator for benchmark data.
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  /// Uniform in [-1, 1).
  mutating func uniform() -> Float { Float(Double(next() >> 11) / Double(1 << 52)) - 1 }
}

/// Rows of an fp16-storage 3x3 conv (LeakyReLU), each worker with its own scratch.
struct F16ConvRows: RowJob {
  let input: FeatureMapF16
  let weights: PackedConvWeightsF16
  let output: FeatureMapF16
  let scratch: UnsafeMutablePointer<Float>
  let scratchPerWorker: Int

  func run(rows: Range<Int>, worker: Int) {
    conv3x3F16(
      input: input, weights: weights, output: output, stride: 1, epilogue: .leakyRelu, rows: rows,
      scratch: scratch + worker * scratchPerWorker)
  }
}

#if ZSM_INT8
  /// Rows of an int8 3x3 conv with LeakyReLU.
  struct Int8ConvRows: RowJob {
    let input: Int8ActivationMap
    let weights: Int8ConvWeights
    let output: FeatureMap

    func run(rows: Range<Int>, worker: Int) {
      conv3x3Int8(input: input, weights: weights, output: output, stride: 1, epilogue: .leakyRelu, rows: rows)
    }
  }
#endif
