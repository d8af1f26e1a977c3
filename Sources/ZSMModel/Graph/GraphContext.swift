import ZSMKernels
import ZSMRuntime

#if ZSM_INT8
  import ZSMKernelsInt8
#endif

#if canImport(Glibc)
  import Glibc
#endif

/// A tensor of a planned graph: an id in the plan and a channel range of it.
struct PlannedTensor {
  let id: Int
  let channelStart: Int
  let channels: Int

  /// Channels `start ..< start + count` of this tensor (an operand of a concatenation).
  func slice(_ start: Int, _ count: Int) -> PlannedTensor {
    PlannedTensor(id: id, channelStart: channelStart + start, channels: count)
  }
}

/// Runs the network's forward code in one of two passes.
///
/// - **Planning**: nothing is computed. Every tensor the code asks for is registered with the
///   step at which it is created and the last step that touches it; every operation's shapes
///   are validated (so a bad configuration fails here, with a message, never mid-frame). Then
///   `ArenaPlanner` places the tensors by liveness in one arena.
/// - **Running**: the same calls, in the same order, get the planned storage and run the
///   kernels. Nothing is allocated: tensor lookups are array reads, jobs are structs.
final class GraphContext {
  enum Mode { case planning, running }

  let pool: WorkerPool
  private(set) var mode: Mode = .planning
  private var step = 0
  private var nextID = 0
  private var descriptors: [TensorDescriptor] = []
  private var names: [String] = []
  private var firstUse: [Int] = []
  private var lastUse: [Int] = []
  private var storage: [UnsafeMutableRawPointer] = []
  /// Per-thread fp32 rows for convolutions on fp16 maps (see `Conv2D.runStaged`): the largest
  /// need of any planned convolution, for every thread.
  private var stagingFloatsPerWorker = 0
  private var staging: UnsafeMutablePointer<Float>?
  /// Run the convolutions allowed fp16 arithmetic (`Conv2D.halfArithmeticWeights`) in it when
  /// their operands are fp16 (`--precision fp16` on a CPU with `CPUFeatures.fp16Arithmetic`).
  var fp16Arithmetic = false
  /// The convolutions of the planned window whose operands let them run in fp16 arithmetic
  /// (recorded while planning, whatever the CPU).
  private(set) var fp16ArithmeticLayers: Set<String> = []
  /// While set, the inputs of the int8 candidates are recorded (calibration, fp32 networks).
  var recorder: ActivationRecorder?
  #if ZSM_INT8
    /// The int8 layers (`--precision int8`), by slot.
    var int8: Int8Layers?
  #endif
  private(set) var plan: ArenaPlan?
  private var arena: Arena?
  /// Multiply-accumulates of the planned window, by stage (counted while planning).
  private(set) var macs = [Int](repeating: 0, count: NetworkStage.allCases.count)
  /// The stage the next operations belong to. While running, the time since the last
  /// switch is added to the stage being left.
  var stage = NetworkStage.featureExtraction {
    didSet {
      guard mode == .running else { return }
      let now = monotonicNanoseconds()
      stageNanoseconds[oldValue.rawValue] += now - stageStart
      stageStart = now
    }
  }
  /// Wall time of each stage in the last running pass.
  private(set) var stageNanoseconds = [UInt64](repeating: 0, count: NetworkStage.allCases.count)
  private var stageStart: UInt64 = 0
  /// Wall time of the deformable convolutions (sampling + multiply, not their offset convs) in
  /// the last running pass, and their multiply-accumulates (counted while planning).
  private(set) var deformNanoseconds: UInt64 = 0
  private(set) var deformMACs = 0

  /// Stands in for storage while planning (validation reads descriptors only).
  private let placeholder = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)

  init(pool: WorkerPool) { self.pool = pool }

  deinit { placeholder.deallocate() }

  // MARK: - Passes

  /// Starts a planning pass (forgets any previous plan).
  func beginPlanning() {
    mode = .planning
    step = 0
    nextID = 0
    descriptors.removeAll()
    names.removeAll()
    firstUse.removeAll()
    lastUse.removeAll()
    storage.removeAll()
    stagingFloatsPerWorker = 0
    staging = nil
    fp16ArithmeticLayers = []
    macs = [Int](repeating: 0, count: NetworkStage.allCases.count)
    deformMACs = 0
    plan = nil
    arena = nil
  }

  /// Places the planned tensors in one arena and allocates it (through `MemoryLimit`: an
  /// arena over the cap is an error naming its size, `what` saying whose it is).
  /// Plans the arena of the pass just recorded; allocates it unless `allocate` is false (then
  /// only `arenaBytes` is known and nothing can run).
  func finishPlanning(what: String, allocate: Bool = true) throws(MemoryError) {
    var planner = ArenaPlanner()
    for id in descriptors.indices {
      planner.add(names[id], bytes: descriptors[id].byteCount, firstUse: firstUse[id], lastUse: lastUse[id])
    }
    let (perWorker, o1) = stagingFloatsPerWorker.multipliedReportingOverflow(by: pool.threadCount)
    let (stagingBytes, o2) = perWorker.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
    if o1 || o2 { throw MemoryError("\(what): the staging rows overflow") }
    if stagingBytes > 0 { planner.add("conv staging rows", bytes: stagingBytes, firstUse: 0, lastUse: step) }
    let plan = try planner.plan()
    guard allocate else {
      self.plan = plan
      return
    }
    let arena = try Arena(byteCount: plan.totalBytes, for: what)
    storage = descriptors.indices.map { UnsafeMutableRawPointer(arena.floats(at: plan.offset(of: $0))) }
    if stagingBytes > 0 { staging = arena.floats(at: plan.offset(of: descriptors.count)) }
    self.plan = plan
    self.arena = arena
  }

  /// Starts a running pass over the planned arena.
  func beginRunning() {
    precondition(arena != nil, "run before plan")
    mode = .running
    step = 0
    nextID = 0
    for i in stageNanoseconds.indices { stageNanoseconds[i] = 0 }
    deformNanoseconds = 0
    stageStart = monotonicNanoseconds()
  }

  /// Ends a running pass: charges the time since the last stage switch.
  func endRunning() {
    let now = monotonicNanoseconds()
    stageNanoseconds[stage.rawValue] += now - stageStart
    stageStart = now
  }

  /// Bytes of the arena.
  var arenaBytes: Int { plan?.totalBytes ?? 0 }

  // MARK: - Tensors

  /// A new tensor, alive from now on. Its halo is zeroed when the running pass creates it.
  func tensor(_ name: String, _ d: TensorDescriptor) -> PlannedTensor {
    let id = nextID
    nextID += 1
    if mode == .planning {
      descriptors.append(d)
      names.append(name)
      firstUse.append(step)
      lastUse.append(step)
    } else {
      d.clearHalo(at: storage[id])
    }
    return PlannedTensor(id: id, channelStart: 0, channels: d.channels)
  }

  /// The tensor's view (channel slice applied).
  func view(_ t: PlannedTensor) -> TensorView {
    var d = descriptors[t.id]
    d.channels = t.channels
    let base = (mode == .running ? storage[t.id] : placeholder) + t.channelStart * d.element.byteCount
    return TensorView(d, storage: base.assumingMemoryBound(to: Float.self))
  }

  /// The fp32 map of `t` (which must be stored as fp32).
  func map(_ t: PlannedTensor) -> FeatureMap { view(t).map }
  /// The map of `t` in its stored precision.
  func anyMap(_ t: PlannedTensor) -> AnyFeatureMap { view(t).anyMap }
  func isFloat32(_ t: PlannedTensor) -> Bool { descriptors[t.id].element == .float32 }

  /// Marks `t` as used by the current step (extends its lifetime).
  @inline(__always)
  func use(_ t: PlannedTensor) {
    if mode == .planning { lastUse[t.id] = step }
  }

  /// Ends the current step (an operation).
  @inline(__always)
  func advance() { step += 1 }

  var isRunning: Bool { mode == .running }

  func countMACs(_ n: Int) { macs[stage.rawValue] += n }
}

/// The stages of docs/architecture.md §11's cost table.
public enum NetworkStage: Int, CaseIterable, Sendable {
  case featureExtraction, interpolation, convLSTM, reconstructionTrunk, upsampling

  public var title: String {
    switch self {
    case .featureExtraction: "A: feature extraction"
    case .interpolation: "B: interpolation / alignment"
    case .convLSTM: "C: bidirectional deformable ConvLSTM"
    case .reconstructionTrunk: "D: reconstruction trunk"
    case .upsampling: "D: upsampling + HR conv + last conv"
    }
  }
}

// MARK: - Operations

extension GraphContext {
  func conv(_ layer: Conv2D, _ input: PlannedTensor, _ output: PlannedTensor, residual: PlannedTensor? = nil)
    throws(ShapeError)
  {
    use(input)
    use(output)
    if let residual { use(residual) }
    if mode == .planning {
      try layer.validate(input: view(input), output: view(output), residual: residual.map { view($0) })
      let o = view(output)
      countMACs(o.height * o.width * layer.outputChannels * layer.inputChannels * layer.kernelSize * layer.kernelSize)
      if let residual, descriptors[residual.id].element != descriptors[output.id].element {
        throw ShapeError("conv \(layer.name): residual and output differ in precision")
      }
      planConv(layer, input: input, output: output, residual: residual != nil)
    } else {
      runConv(layer, input: anyMap(input), output: anyMap(output), residual: residual.map { anyMap($0) })
    }
    advance()
  }

  /// Whether `layer` runs in fp16 arithmetic on a CPU that has it: allowed, and reading an fp16
  /// map (it writes fp16, or fp32 where its output is an fp32 map without a residual: the
  /// offsets and mask).
  static func fp16ArithmeticApplies(
    _ layer: Conv2D, input: MapElementType, output: MapElementType, residual: Bool
  ) -> Bool {
    layer.halfArithmeticWeights != nil && input == .float16 && (output == .float16 || !residual)
  }

  /// Records the per-thread scratch `layer` needs: none in fp16 arithmetic, the Winograd
  /// path's, or staging rows when an operand is not fp32.
  func planConv(_ layer: Conv2D, input: PlannedTensor, output: PlannedTensor, residual: Bool = false) {
    if Self.fp16ArithmeticApplies(
      layer, input: descriptors[input.id].element, output: descriptors[output.id].element, residual: residual)
    {
      fp16ArithmeticLayers.insert(layer.name)
      if fp16Arithmetic { return }  // no staging rows
    }
    #if ZSM_INT8
      if let w = int8Weights(layer, outputWidth: view(output).width) {
        let i = view(input)
        let bytes = int8StagingBytes(
          weights: w, inputWidth: i.width, outputWidth: layer.outputSize(height: 1, width: i.width).width)
        stagingFloatsPerWorker = max(stagingFloatsPerWorker, (bytes + 63) / 64 * 16)
        return
      }
    #endif
    let o = view(output)
    if layer.prefersWinograd(outputWidth: o.width) {
      stagingFloatsPerWorker = max(stagingFloatsPerWorker, layer.winogradFloatsPerWorker(outputWidth: o.width))
      return
    }
    guard !isFloat32(input) || !isFloat32(output) else { return }
    if layer.narrowOutput != nil && isFloat32(output) { return }  // reads fp16 itself
    stagingFloatsPerWorker = max(stagingFloatsPerWorker, layer.stagingFloatsPerWorker(inputWidth: view(input).width))
  }

  #if ZSM_INT8
    /// The int8 weights `layer` runs with on an output `outputWidth` wide, if it runs in int8
    /// there: not where `Int8Policy.winogradOverInt8` keeps a layer that takes the Winograd
    /// path at this width in fp32. (Depends on the width only, as `prefersWinograd`, so a band
    /// buffer and its full map agree, and planning and running agree.)
    func int8Weights(_ layer: Conv2D, outputWidth: Int) -> Int8ConvWeights? {
      guard layer.int8Slot >= 0, let int8 else { return nil }
      if Int8Policy.winogradOverInt8 && layer.prefersWinograd(outputWidth: outputWidth) { return nil }
      return int8.weights[layer.int8Slot]
    }
  #endif

  /// Runs a convolution (rows `rows`, all by default): by Winograd where the layer prefers it
  /// for this shape, else the fp32 kernels in place when every operand is fp32, else through
  /// fp32 staging rows.
  func runConv(
    _ layer: Conv2D, input: AnyFeatureMap, output: AnyFeatureMap, residual: AnyFeatureMap?, rows: Range<Int>? = nil
  ) {
    if layer.int8Slot >= 0 {
      if let recorder, input.element == .float32 {
        let m = input.float32
        let inputRows = rows.map { ($0.lowerBound * layer.stride)..<min(m.height, $0.upperBound * layer.stride) }
        recorder.record(slot: layer.int8Slot, m, rows: inputRows ?? 0..<m.height)
      }
      #if ZSM_INT8
        if let w = int8Weights(layer, outputWidth: output.width), let staging {
          precondition(input.element == .float32 && output.element == .float32, "int8 layers read and write fp32")
          pool.forEachRowRange(
            rows: rows ?? 0..<output.height,
            Int8ConvRows(
              weights: w, input: input.float32, output: output.float32, residual: residual?.float32,
              stride: layer.stride, epilogue: layer.epilogue, scratch: UnsafeMutableRawPointer(staging),
              scratchBytesPerWorker: stagingFloatsPerWorker * 4))
          return
        }
      #endif
    }
    #if arch(arm64)
      if fp16Arithmetic
        && Self.fp16ArithmeticApplies(
          layer, input: input.element, output: output.element, residual: residual != nil)
      {
        if layer.narrowOutput != nil && output.element == .float32 {  // conv_last: its own kernel
          layer.runNarrowOutput(input: input, output: output.float32, pool: pool, rows: rows, fp16Arithmetic: true)
        } else if output.element == .float16 {
          layer.runFP16Arithmetic(
            input: input.float16, output: output.float16, residual: residual?.float16, pool: pool, rows: rows)
        } else {
          layer.runFP16Arithmetic(input: input.float16, output: output.float32, pool: pool, rows: rows)
        }
        return
      }
    #endif
    if layer.prefersWinograd(outputWidth: output.width), let staging {
      layer.runWinograd(
        input: input, output: output, residual: residual, pool: pool, rows: rows, scratch: staging,
        scratchPerWorker: stagingFloatsPerWorker)
      return
    }
    if layer.narrowOutput != nil && output.element == .float32 {
      layer.runNarrowOutput(input: input, output: output.float32, pool: pool, rows: rows)
      return
    }
    layer.halfWeights?.widen(pool: pool)
    if input.element == .float32 && output.element == .float32 {
      layer.runUnchecked(
        input: input.float32, output: output.float32, residual: residual?.float32, pool: pool, rows: rows)
    } else {
      guard let staging else { preconditionFailure("conv \(layer.name): no staging rows were planned") }
      layer.runStaged(input: input, output: output, residual: residual, pool: pool, rows: rows, scratch: staging)
    }
  }

  func deform(
    _ layer: DeformableConv2D, _ input: PlannedTensor, offsets: PlannedTensor, _ output: PlannedTensor,
    scratch: PlannedTensor
  ) throws(ShapeError) {
    use(input)
    use(offsets)
    use(output)
    use(scratch)
    if mode == .planning {
      try layer.validate(input: view(input), offsetsAndMask: view(offsets), output: view(output))
      let o = view(output)
      countMACs(o.height * o.width * o.channels * layer.weights.layout.inputChannels * 9)
      deformMACs += o.height * o.width * o.channels * layer.weights.layout.inputChannels * 9
      guard view(scratch).channels >= layer.scratchFloatsPerWorker * pool.threadCount else {
        throw ShapeError("deformable conv \(layer.name): scratch too small")
      }
      if layer.halfArithmeticWeights != nil && !isFloat32(input) && !isFloat32(output) {
        fp16ArithmeticLayers.insert(layer.name)
      }
    } else {
      let start = monotonicNanoseconds()
      let (i, o) = (anyMap(input), anyMap(output))
      var ranFP16Arithmetic = false
      #if arch(arm64)
        if fp16Arithmetic && layer.halfArithmeticWeights != nil && i.element == .float16 && o.element == .float16 {
          layer.runFP16Arithmetic(
            input: i.float16, offsetsAndMask: map(offsets), output: o.float16, pool: pool,
            scratch: view(scratch).storage)
          ranFP16Arithmetic = true
        }
      #endif
      if !ranFP16Arithmetic {
        layer.halfWeights?.widen(pool: pool)
        layer.runUnchecked(
          input: i, offsetsAndMask: map(offsets), output: o, pool: pool, scratch: view(scratch).storage)
      }
      deformNanoseconds += monotonicNanoseconds() - start
    }
    advance()
  }

  func upsample(_ input: PlannedTensor, _ output: PlannedTensor, scale: Float) throws(ShapeError) {
    use(input)
    use(output)
    if mode == .planning {
      let i = view(input)
      let o = view(output)
      guard o.channels == i.channels, o.height == 2 * i.height, o.width == 2 * i.width else {
        throw ShapeError("upsample: \(i.descriptor) cannot become \(o.descriptor)")
      }
    } else {
      Upsample2x(input: anyMap(input), output: anyMap(output), scale: scale).run(pool: pool)
    }
    advance()
  }

  /// `output = input` (channel counts and sizes must match).
  func copy(_ input: PlannedTensor, _ output: PlannedTensor) throws(ShapeError) {
    use(input)
    use(output)
    if mode == .planning {
      let i = view(input)
      let o = view(output)
      guard o.channels == i.channels, o.height == i.height, o.width == i.width else {
        throw ShapeError("copy: \(i.descriptor) into \(o.descriptor)")
      }
    } else {
      Scale(anyMap(input), by: 1, output: anyMap(output)).run(pool: pool)
    }
    advance()
  }

  /// Sets every value of a whole tensor (all channels, halo included) to zero.
  func zero(_ t: PlannedTensor) {
    use(t)
    if mode == .running {
      storage[t.id].initializeMemory(as: UInt8.self, repeating: 0, count: descriptors[t.id].byteCount)
    }
    advance()
  }

  func lstm(gates: PlannedTensor, cellIn: PlannedTensor, cell: PlannedTensor, hidden: PlannedTensor)
    throws(ShapeError)
  {
    use(gates)
    use(cellIn)
    use(cell)
    use(hidden)
    if mode == .planning {
      let c = view(cell).channels
      guard view(gates).channels == 4 * c, view(cellIn).channels == c, view(hidden).channels == c else {
        throw ShapeError("LSTM update: gates \(view(gates).channels), cell \(c), expected 4C and C")
      }
    } else {
      LSTMUpdate(gates: anyMap(gates), cellIn: anyMap(cellIn), cellOut: anyMap(cell), hiddenOut: anyMap(hidden))
        .run(pool: pool)
    }
    advance()
  }
}
