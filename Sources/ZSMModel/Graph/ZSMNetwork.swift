import ZSMKernels
import ZSMRuntime

/// Optional copies of intermediate stages, for golden tests against the PyTorch reference.
/// Each pointer, when set, receives plain float32 arrays on the padded LR grid `hp x wp`:
/// `featL1` `[N][nf][hp][wp]`, `featL2` `[N][nf][hp/2][wp/2]`, `featL3` `[N][nf][hp/4][wp/4]`,
/// `lstmIn` and `lstmOut` `[2N-1][nf][hp][wp]`.
public struct StageOutputs {
  public var featL1: UnsafeMutablePointer<Float>?
  public var featL2: UnsafeMutablePointer<Float>?
  public var featL3: UnsafeMutablePointer<Float>?
  public var lstmIn: UnsafeMutablePointer<Float>?
  public var lstmOut: UnsafeMutablePointer<Float>?
  public init() {}
}

/// The Zooming Slow-Mo network (docs/architecture.md), on the packed kernels and one static arena.
///
/// `prepare(frames:height:width:)` validates every operation and plans all intermediates of a
/// window into one arena; `run` then processes a window without allocating. Frames of any size
/// are zero-padded to multiples of 4 at the bottom and right and the output is cropped (§8.2).
public final class ZSMNetwork {
  public let config: ZSMConfig
  public let threads: Int
  public let precision: Precision
  /// How activations are stored (fp16 in `.fp16`).
  let activationElement: MapElementType
  /// The packed weights (the checkpoint's unpacked values are not kept).
  let weightStorage: WeightStorage
  let context: GraphContext

  // Stage A
  let convFirst: Conv2D
  let front: [ResidualBlock]
  let pyramid: PyramidLayers
  // Stage B
  let pcd: PCDLayers
  // Stage C
  let cell: Conv2D
  let alignH: StateAlignLayers
  let alignC: StateAlignLayers
  let blstmFusion: Conv2D
  // Stage D
  let trunk: [ResidualBlock]
  let upconv1: Conv2D
  let upconv2: Conv2D
  let hrConv: Conv2D
  let convLast: Conv2D

  /// Output rows (4x) of one band of the reconstruction tail.
  let bandRows = 32
  /// LR rows of one band of upconv1 + the first pixel shuffle.
  let headBandRows = 8

  public private(set) var frames = 0
  public private(set) var height = 0
  public private(set) var width = 0
  var paddedHeight: Int { (height + 3) / 4 * 4 }
  var paddedWidth: Int { (width + 3) / 4 * 4 }

  // Per-window bookkeeping, reused (capacity kept) so a run allocates nothing.
  private var pyramids: [Pyramid] = []
  private var sequence: [PlannedTensor] = []
  private var backwardStates: [PlannedTensor] = []

  /// Packs the weights. `parameters` maps checkpoint names to float32 values (PyTorch layout);
  /// every parameter the configuration needs must be there with the right size.
  /// `precision` `.int8` needs `calibration`, a table made by `zsm calibrate` for this model.
  /// `fp16ArithmeticGroups`: with `.fp16`, the layer groups that run in fp16 arithmetic where
  /// the CPU has it (`FP16ArithmeticPolicy`; tests pass others to measure them, [] for storage).
  /// `int8Groups`: with `.int8`, the layer groups that run in int8 (`Int8Policy.groups`; a
  /// subset of `Int8Policy.candidateGroups`, others to measure them); `calibration` needs an
  /// entry for each of their layers.
  public init(
    config: ZSMConfig, parameters: [String: [Float]], threads: Int, precision: Precision = .fp32,
    calibration: CalibrationTable? = nil, fp16ArithmeticGroups: Set<String> = FP16ArithmeticPolicy.groups,
    int8Groups: Set<String> = Int8Policy.groups
  ) throws(ModelError) {
    self.config = config
    self.threads = max(1, threads)
    self.precision = precision
    activationElement = precision == .fp16 ? .float16 : .float32
    let c = config.nf
    let g = config.groups
    guard c > 0, g > 0, c % g == 0 else {
      throw ModelError("nf \(c) must be a positive multiple of groups \(g)")
    }
    let p = WeightPacker(
      parameters: parameters, halfWeights: precision == .fp16, int8Groups: precision == .int8 ? int8Groups : [],
      fp16ArithmeticGroups: fp16ArithmeticGroups)
    weightStorage = p.storage
    convFirst = try p.conv("conv_first", cin: 3, cout: c, epilogue: .leakyRelu)
    var blocks: [ResidualBlock] = []
    for r in 0..<config.frontRBs { blocks.append(try ResidualBlock(p, "feature_extraction.\(r)", channels: c)) }
    front = blocks
    pyramid = try PyramidLayers(p, prefix: "", channels: c)
    pcd = try PCDLayers(p, alignPrefix: "pcd_align.", fusionName: "fusion", channels: c, groups: g)
    cell = try p.conv("ConvBLSTM.forward_net.cell_list.0.conv", cin: 2 * c, cout: 4 * c, epilogue: .none)
    alignH = try StateAlignLayers(p, prefix: "ConvBLSTM.forward_net.pcd_h.", channels: c, groups: g)
    alignC = try StateAlignLayers(p, prefix: "ConvBLSTM.forward_net.pcd_c.", channels: c, groups: g)
    blstmFusion = try p.conv("ConvBLSTM.conv_1x1", cin: 2 * c, cout: c, kernel: 1, epilogue: .none)
    blocks = []
    for r in 0..<config.backRBs { blocks.append(try ResidualBlock(p, "recon_trunk.\(r)", channels: c)) }
    trunk = blocks
    // The pixel shuffles read phase-major channels: pack the upconvs' outputs in that order.
    upconv1 = try p.conv(
      "upconv1", cin: c, cout: 4 * c, epilogue: .none, outputOrder: pixelShufflePhaseMajorOrder(channels: c))
    let tw = config.tailWidth
    upconv2 = try p.conv(
      "upconv2", cin: c, cout: 4 * tw, epilogue: .none, outputOrder: pixelShufflePhaseMajorOrder(channels: tw))
    hrConv = try p.conv("HRconv", cin: tw, cout: tw, epilogue: .leakyRelu)
    convLast = try p.conv("conv_last", cin: tw, cout: 3, epilogue: .none)
    if config.globalSkip {
      let marker = try p.values(ZSMConfig.globalSkipKey, count: 1)[0]
      guard marker == ZSMConfig.globalSkipBicubic else {
        throw ModelError(
          "\(ZSMConfig.globalSkipKey) is \(marker): this runtime knows only \(ZSMConfig.globalSkipBicubic)"
            + " (the x4 bicubic skip of ZSM-Lite)")
      }
    }
    context = GraphContext(pool: WorkerPool(threads: self.threads))
    let int8Candidates = p.int8Candidates.layers
    int8TensorNames = int8Candidates.map { Int8Policy.tensorName(ofInputTo: $0.layer.name) }
    int8LayerNames =
      precision == .int8
      ? int8Candidates.map(\.layer.name).filter { int8Groups.contains(Int8Policy.group(of: $0)) } : []
    context.fp16Arithmetic = precision == .fp16 && FP16ArithmeticPolicy.available
    if precision == .int8 {
      if let reason = Int8Policy.unavailableReason { throw ModelError(reason) }
      guard let calibration else {
        throw ModelError(
          "int8 needs a calibration table for this model; make one with: zsm calibrate --model MODEL.pth"
            + " --input CLIP.y4m --precision int8")
      }
      #if ZSM_INT8
        context.int8 = try Int8Layers(candidates: int8Candidates, table: calibration, groups: int8Groups)
      #endif
    }
  }

  /// The convolutions of the prepared window that run in fp16 arithmetic on a CPU that has it
  /// (sorted names; empty unless `.fp16`).
  public var fp16ArithmeticLayers: [String] { context.fp16ArithmeticLayers.sorted() }
  /// Whether they do here (`.fp16` on a CPU with `CPUFeatures.fp16Arithmetic`); else fp16 storage.
  public var runsFP16Arithmetic: Bool { context.fp16Arithmetic && !context.fp16ArithmeticLayers.isEmpty }

  /// Calibration-table names of the inputs of every int8 candidate (what `zsm calibrate`
  /// records; `Int8Policy.isCandidate`), in any precision.
  public let int8TensorNames: [String]
  /// The convolutions that run in int8 (empty unless `.int8`).
  public let int8LayerNames: [String]

  /// Starts recording the inputs of the int8 layers on every following `run` (calibration of an
  /// fp32 network); returns the recorder that accumulates them.
  public func recordActivations() -> ActivationRecorder {
    let recorder = ActivationRecorder(tensorNames: int8TensorNames)
    context.recorder = recorder
    return recorder
  }

  /// Stops recording.
  public func stopRecording() { context.recorder = nil }

  /// Plans a window of `frames` input frames of `width x height` (any size; padded to
  /// multiples of 4 internally). Allocates the arena; call again only when the shape changes.
  /// (The previous arena is released first, so a new shape never needs both.)
  public func prepare(frames: Int, height: Int, width: Int) throws(ModelError) {
    try plan(frames: frames, height: height, width: width, allocate: true)
  }

  /// The arena a window of `frames` input frames of `width x height` needs, in bytes, planned
  /// without allocating it (so a caller can compare it with the memory cap and choose tiles).
  /// The network is left unprepared: `prepare` before the next `run`.
  public func arenaBytes(frames: Int, height: Int, width: Int) throws(ModelError) -> Int {
    try plan(frames: frames, height: height, width: width, allocate: false)
    let bytes = context.arenaBytes
    self.frames = 0
    return bytes
  }

  /// Frees the arena (it counts against `MemoryLimit` until then); `prepare` before the next
  /// `run`.
  public func releaseArena() {
    context.beginPlanning()
    frames = 0
  }

  private func plan(frames: Int, height: Int, width: Int, allocate: Bool) throws(ModelError) {
    guard frames >= 2 else { throw ModelError("a window needs at least 2 input frames, got \(frames)") }
    guard frames <= Limits.maximumWindow else {
      throw ModelError("a window has at most \(Limits.maximumWindow) input frames, got \(frames)")
    }
    guard height >= 1, width >= 1 else { throw ModelError("frame size \(width)x\(height) is empty") }
    guard height <= Limits.maximumFrameDimension, width <= Limits.maximumFrameDimension else {
      throw ModelError(
        "frame size \(width)x\(height): width and height must be at most \(Limits.maximumFrameDimension)"
          + " (4x that is the largest Y4M frame)")
    }
    self.frames = frames
    self.height = height
    self.width = width
    pyramids.reserveCapacity(frames)
    sequence.reserveCapacity(2 * frames)
    backwardStates.reserveCapacity(2 * frames)
    context.beginPlanning()
    do {
      try forward(input: nil, output: nil, stages: StageOutputs())
    } catch {
      throw ModelError("the network cannot run on \(frames) frames of \(width)x\(height): \(error.message)")
    }
    do {
      try context.finishPlanning(
        what: "the arena of a window of \(frames) frames of \(width)x\(height)", allocate: allocate)
    } catch { throw ModelError(error.description) }
  }

  /// Bytes of the planned arena (every intermediate of a window).
  public var arenaBytes: Int { context.arenaBytes }
  /// Bytes of the Winograd F(4,3) weights (part of `weightBytes`).
  public var winogradWeightBytes: Int { weightStorage.winogradBytes }
  /// Bytes of the packed weights (Winograd weights included).
  public var weightBytes: Int {
    #if ZSM_INT8
      return weightStorage.byteCount + (context.int8?.byteCount ?? 0)
    #else
      return weightStorage.byteCount
    #endif
  }
  /// Multiply-accumulates of one window, by stage (dense equivalent for the deformable convs).
  public var macsPerWindow: [NetworkStage: Int] {
    Dictionary(uniqueKeysWithValues: NetworkStage.allCases.map { ($0, context.macs[$0.rawValue]) })
  }
  /// Output frames of a window.
  public var outputFrames: Int { 2 * frames - 1 }

  /// Runs one window. `input` is `[N][3][H][W]` RGB in [0, 1]; `output` receives
  /// `[2N-1][3][4H][4W]` (unclamped, as the network produces it).
  public func run(
    input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, stages: StageOutputs = StageOutputs()
  ) {
    context.beginRunning()
    // Shapes were validated by `prepare`; the running pass cannot throw.
    try? forward(input: input, output: output, stages: stages)
    context.endRunning()
  }

  /// Wall-clock seconds of each stage in the last `run`.
  /// Wall-clock seconds of `stage` in the last `run` (no allocation, unlike the dictionary).
  public func lastRunSeconds(of stage: NetworkStage) -> Double {
    Double(context.stageNanoseconds[stage.rawValue]) / 1e9
  }

  public var lastRunStageSeconds: [NetworkStage: Double] {
    Dictionary(
      uniqueKeysWithValues: NetworkStage.allCases.map { ($0, Double(context.stageNanoseconds[$0.rawValue]) / 1e9) })
  }

  /// Seconds of the deformable convolutions (sampling + multiply, not their offset convs) in
  /// the last `run`; they are part of stages B and C.
  public var lastRunDeformableSeconds: Double { Double(context.deformNanoseconds) / 1e9 }
  /// Multiply-accumulates of the deformable convolutions of one window (dense equivalent).
  public var deformableMACsPerWindow: Int { context.deformMACs }

  // MARK: - Forward

  struct Pyramid {
    let l1: PlannedTensor
    let l2: PlannedTensor
    let l3: PlannedTensor
  }

  /// A feature map of `channels` at 1/`scale` of the padded LR size.
  func descriptor(_ channels: Int, scale: Int = 1, halo: Int = 1, element: MapElementType? = nil) -> TensorDescriptor {
    TensorDescriptor(
      height: paddedHeight / scale, width: paddedWidth / scale, channels: channels, halo: halo,
      element: element ?? activationElement)
  }

  func forward(input: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>?, stages: StageOutputs)
    throws(ShapeError)
  {
    let g = context
    let c = config.nf
    let n = frames
    let t = outputFrames
    let scratchFloats = pcd.forward.l1dcn.deform.scratchFloatsPerWorker * threads
    let scratch = g.tensor("deformable scratch", TensorDescriptor(height: 1, width: 1, channels: scratchFloats))
    // ZSM-Lite's skip: one source row per worker (the vertical pass of the bicubic upscale).
    let skipRows =
      config.globalSkip
      ? g.tensor("global skip rows", TensorDescriptor(height: 1, width: 1, channels: (width + 15) / 16 * 16 * threads))
      : nil

    // Stage A: per-frame features and pyramids.
    g.stage = .featureExtraction
    pyramids.removeAll(keepingCapacity: true)
    for f in 0..<n {
      let frame = g.tensor("input frame", descriptor(3, element: .float32))
      g.loadFrame(input.map { $0 + f * 3 * height * width }, height: height, width: width, into: frame)
      let l1 = g.tensor("L1", descriptor(c))
      try g.conv(convFirst, frame, l1)
      try residualBlocks(front, l1)
      let (l2, l3) = try pyramidLevels(pyramid, l1)
      pyramids.append(Pyramid(l1: l1, l2: l2, l3: l3))
      g.capture(l1, into: stages.featL1.map { $0 + f * c * paddedHeight * paddedWidth })
      g.capture(l2, into: stages.featL2.map { $0 + f * c * paddedHeight * paddedWidth / 4 })
      g.capture(l3, into: stages.featL3.map { $0 + f * c * paddedHeight * paddedWidth / 16 })
    }

    // Stage B: the interpolated feature of every adjacent pair; S = [F0, I01, F1, ...].
    g.stage = .interpolation
    sequence.removeAll(keepingCapacity: true)
    for f in 0..<n {
      sequence.append(pyramids[f].l1)
      guard f + 1 < n else { break }
      let aligned = g.tensor("pair alignment", descriptor(2 * c, halo: 0))
      try align(pcd.forward, source: pyramids[f], reference: pyramids[f + 1], into: aligned.slice(0, c), scratch)
      try align(pcd.backward, source: pyramids[f + 1], reference: pyramids[f], into: aligned.slice(c, c), scratch)
      let interpolated = g.tensor("interpolated", descriptor(c))
      try g.conv(pcd.fusion, aligned, interpolated)
      sequence.append(interpolated)
    }
    for (i, item) in sequence.enumerated() {
      g.capture(item, into: stages.lstmIn.map { $0 + i * c * paddedHeight * paddedWidth })
    }

    // Stage C, backward direction first (the same cell on the reversed sequence), so that the
    // forward pass can fuse and reconstruct each frame as soon as its forward state exists.
    g.stage = .convLSTM
    let zeroState = g.tensor("zero state", descriptor(c))
    g.zero(zeroState)
    let cellState = g.tensor("cell state", descriptor(c))
    g.zero(cellState)
    backwardStates.removeAll(keepingCapacity: true)
    for _ in 0..<t { backwardStates.append(g.tensor("backward output", descriptor(c))) }
    for step in stride(from: t - 1, through: 0, by: -1) {
      let hidden = step == t - 1 ? zeroState : backwardStates[step + 1]
      try lstmStep(x: sequence[step], hidden: hidden, cell: cellState, hiddenOut: backwardStates[step], scratch)
    }
    g.zero(cellState)
    // Forward direction: [forward h ‖ backward h] -> 1x1 fusion -> reconstruction, per frame.
    let pairA = g.tensor("lstm pair A", descriptor(2 * c))
    let pairB = g.tensor("lstm pair B", descriptor(2 * c))
    var hidden = zeroState
    for step in 0..<t {
      g.stage = .convLSTM
      let pair = step % 2 == 0 ? pairA : pairB
      try lstmStep(x: sequence[step], hidden: hidden, cell: cellState, hiddenOut: pair.slice(0, c), scratch)
      try g.copy(backwardStates[step], pair.slice(c, c))
      let y = g.tensor("lstm output", descriptor(c))
      try g.conv(blstmFusion, pair, y)
      g.capture(y, into: stages.lstmOut.map { $0 + step * c * paddedHeight * paddedWidth })
      let skip = skipRows.map { rows in
        GlobalSkip(
          first: input.map { $0 + step / 2 * 3 * height * width },
          second: step % 2 == 1 ? input.map { $0 + (step / 2 + 1) * 3 * height * width } : nil,
          frameHeight: height, frameWidth: width, rows: rows)
      }
      try reconstruct(y, into: output.map { $0 + step * 3 * 16 * height * width }, skip: skip)
      hidden = pair.slice(0, c)
    }
  }

  /// In-place residual blocks on `x`.
  func residualBlocks(_ blocks: [ResidualBlock], _ x: PlannedTensor) throws(ShapeError) {
    guard !blocks.isEmpty else { return }
    let temp = context.tensor("residual temp", context.view(x).descriptor)
    for block in blocks {
      try context.conv(block.conv1, x, temp)
      try context.conv(block.conv2, temp, x, residual: x)
    }
  }

  /// Levels 2 and 3 of a pyramid (A3-A6 or a state aligner's convs).
  func pyramidLevels(_ layers: PyramidLayers, _ l1: PlannedTensor) throws(ShapeError) -> (PlannedTensor, PlannedTensor)
  {
    let g = context
    let c = config.nf
    let a = g.tensor("pyramid L2a", descriptor(c, scale: 2))
    try g.conv(layers.l2conv1, l1, a)
    let l2 = g.tensor("pyramid L2", descriptor(c, scale: 2))
    try g.conv(layers.l2conv2, a, l2)
    let b = g.tensor("pyramid L3a", descriptor(c, scale: 4))
    try g.conv(layers.l3conv1, l2, b)
    let l3 = g.tensor("pyramid L3", descriptor(c, scale: 4))
    try g.conv(layers.l3conv2, b, l3)
    return (l2, l3)
  }

  /// `[a ‖ b]` into a new 2C tensor at 1/`scale`.
  func concatenate(_ a: PlannedTensor, _ b: PlannedTensor, scale: Int) throws(ShapeError) -> PlannedTensor {
    let c = config.nf
    let both = context.tensor("concatenation", descriptor(2 * c, scale: scale))
    try context.copy(a, both.slice(0, c))
    try context.copy(b, both.slice(c, c))
    return both
  }

  /// A `DCN_sep`: offsets and mask from `offsetFeature`, then the deformable conv of `input`.
  func deformable(
    _ layer: DeformableLayer, input: PlannedTensor, offsetFeature: PlannedTensor, output: PlannedTensor,
    scale: Int, _ scratch: PlannedTensor
  ) throws(ShapeError) {
    // fp32 in every precision: the sampling positions are the network's most sensitive values.
    let offsets = context.tensor(
      "offsets and mask", descriptor(27 * config.groups, scale: scale, halo: 0, element: .float32))
    try context.conv(layer.offsets, offsetFeature, offsets)
    try context.deform(layer.deform, input, offsets: offsets, output, scratch: scratch)
  }

  /// `Align_s(source <- reference)` of docs/architecture.md §3, written into `output` (C channels).
  func align(
    _ L: AlignLayers, source: Pyramid, reference: Pyramid, into output: PlannedTensor, _ scratch: PlannedTensor
  ) throws(ShapeError) {
    let g = context
    let c = config.nf
    // Level 3
    let cat3 = try concatenate(source.l3, reference.l3, scale: 4)
    let o3a = g.tensor("o3a", descriptor(c, scale: 4))
    try g.conv(L.l3offset1, cat3, o3a)
    let o3 = g.tensor("o3", descriptor(c, scale: 4))
    try g.conv(L.l3offset2, o3a, o3)
    let f3 = g.tensor("f3", descriptor(c, scale: 4, halo: 0))
    try deformable(L.l3dcn, input: source.l3, offsetFeature: o3, output: f3, scale: 4, scratch)
    // Level 2
    let cat2 = try concatenate(source.l2, reference.l2, scale: 2)
    let o2cat = g.tensor("[o2 ‖ 2 U(o3)]", descriptor(2 * c, scale: 2))
    try g.conv(L.l2offset1, cat2, o2cat.slice(0, c))
    try g.upsample(o3, o2cat.slice(c, c), scale: 2)
    let o2b = g.tensor("o2b", descriptor(c, scale: 2))
    try g.conv(L.l2offset2, o2cat, o2b)
    let o2 = g.tensor("o2", descriptor(c, scale: 2))
    try g.conv(L.l2offset3, o2b, o2)
    let f2cat = g.tensor("[f2 ‖ U(f3)]", descriptor(2 * c, scale: 2))
    try deformable(L.l2dcn, input: source.l2, offsetFeature: o2, output: f2cat.slice(0, c), scale: 2, scratch)
    try g.upsample(f3, f2cat.slice(c, c), scale: 1)
    let f2 = g.tensor("f2", descriptor(c, scale: 2, halo: 0))
    try g.conv(L.l2fea, f2cat, f2)
    // Level 1
    let cat1 = try concatenate(source.l1, reference.l1, scale: 1)
    let o1cat = g.tensor("[o1 ‖ 2 U(o2)]", descriptor(2 * c))
    try g.conv(L.l1offset1, cat1, o1cat.slice(0, c))
    try g.upsample(o2, o1cat.slice(c, c), scale: 2)
    let o1b = g.tensor("o1b", descriptor(c))
    try g.conv(L.l1offset2, o1cat, o1b)
    let o1 = g.tensor("o1", descriptor(c))
    try g.conv(L.l1offset3, o1b, o1)
    let f1cat = g.tensor("[f1 ‖ U(f2)]", descriptor(2 * c))
    try deformable(L.l1dcn, input: source.l1, offsetFeature: o1, output: f1cat.slice(0, c), scale: 1, scratch)
    try g.upsample(f2, f1cat.slice(c, c), scale: 1)
    try g.conv(L.l1fea, f1cat, output)
  }

  /// A state aligner (`pcd_h` / `pcd_c`): aligns `state` with the input `x` (§5.1).
  func alignState(
    _ L: StateAlignLayers, x: PlannedTensor, state: PlannedTensor, into output: PlannedTensor,
    _ scratch: PlannedTensor
  ) throws(ShapeError) {
    let (x2, x3) = try pyramidLevels(L.pyramid, x)
    let (s2, s3) = try pyramidLevels(L.pyramid, state)
    let px = Pyramid(l1: x, l2: x2, l3: x3)
    let ps = Pyramid(l1: state, l2: s2, l3: s3)
    let aligned = context.tensor("state alignment", descriptor(2 * config.nf, halo: 0))
    try align(L.pcd.forward, source: px, reference: ps, into: aligned.slice(0, config.nf), scratch)
    try align(L.pcd.backward, source: ps, reference: px, into: aligned.slice(config.nf, config.nf), scratch)
    try context.conv(L.pcd.fusion, aligned, output)
  }

  /// One ConvLSTM step (§5.1): aligned states, gates conv on `[x ‖ h~]`, state update.
  func lstmStep(
    x: PlannedTensor, hidden: PlannedTensor, cell: PlannedTensor, hiddenOut: PlannedTensor,
    _ scratch: PlannedTensor
  ) throws(ShapeError) {
    let g = context
    let c = config.nf
    let cellInput = g.tensor("[x ‖ h~]", descriptor(2 * c))
    try g.copy(x, cellInput.slice(0, c))
    try alignState(alignH, x: x, state: hidden, into: cellInput.slice(c, c), scratch)
    let alignedCell = g.tensor("c~", descriptor(c, halo: 0))
    try alignState(alignC, x: x, state: cell, into: alignedCell, scratch)
    let gates = g.tensor("gates", descriptor(4 * c, halo: 0))
    try g.conv(self.cell, cellInput, gates)
    try g.lstm(gates: gates, cellIn: alignedCell, cell: cell, hidden: hiddenOut)
  }

  /// Stage D for one frame: trunk, x2, x2, HR conv, RGB; the 4x part in row bands. With a
  /// global skip (ZSM-Lite) its bicubic upscale is added as each band is stored.
  func reconstruct(_ y: PlannedTensor, into frame: UnsafeMutablePointer<Float>?, skip: GlobalSkip?)
    throws(ShapeError)
  {
    let g = context
    let c = config.nf
    let tw = config.tailWidth
    g.stage = .reconstructionTrunk
    try residualBlocks(trunk, y)
    g.stage = .upsampling
    // upconv1 + shuffle to 2x, through a band of LR rows (its 4C-channel output never exists whole).
    let ps1 = g.tensor(
      "x2 features",
      TensorDescriptor(
        height: 2 * paddedHeight, width: 2 * paddedWidth, channels: c, halo: 1, element: activationElement))
    // The bands hold activations (fp16 with --precision fp16, so that upconv1, upconv2 and
    // HRconv run in fp16 arithmetic where the CPU has it); the RGB band is fp32.
    let up1 = g.tensor(
      "upconv1 band",
      TensorDescriptor(height: headBandRows, width: paddedWidth, channels: 4 * c, element: activationElement))
    var lr0 = 0
    while lr0 < paddedHeight {
      let lr1 = min(lr0 + headBandRows, paddedHeight)
      try g.convShuffleBand(upconv1, input: y, band: up1, output: ps1, rows: lr0..<lr1)
      lr0 = lr1
    }
    let wide = 4 * paddedWidth
    let bands = TailBands(
      up2: g.tensor(
        "upconv2 band",
        TensorDescriptor(height: bandRows / 2 + 2, width: wide / 2, channels: 4 * tw, element: activationElement)),
      ps2: g.tensor(
        "x4 band",
        TensorDescriptor(height: bandRows + 4, width: wide, channels: tw, halo: 1, element: activationElement)),
      hr: g.tensor(
        "HRconv band",
        TensorDescriptor(height: bandRows + 2, width: wide, channels: tw, halo: 1, element: activationElement)),
      rgb: g.tensor("RGB band", TensorDescriptor(height: bandRows, width: wide, channels: 3)))
    var r0 = 0
    while r0 < 4 * height {
      let r1 = min(r0 + bandRows, 4 * paddedHeight)
      try g.tailBand(
        TailLayers(upconv2: upconv2, hrConv: hrConv, convLast: convLast), ps1: ps1, bands: bands, rows: r0..<r1,
        fullHeight: 4 * paddedHeight, frame: frame, cropHeight: 4 * height, cropWidth: 4 * width, skip: skip)
      r0 = r1
    }
  }
}

extension ZSMNetwork {
  /// The network of a loaded, strictly verified checkpoint (see `StateDict.loadZSM`).
  public convenience init(
    stateDict: StateDict, config: ZSMConfig, threads: Int, precision: Precision = .fp32,
    calibration: CalibrationTable? = nil, fp16ArithmeticGroups: Set<String> = FP16ArithmeticPolicy.groups,
    int8Groups: Set<String> = Int8Policy.groups
  ) throws(ModelError) {
    var parameters: [String: [Float]] = [:]
    for tensor in stateDict.tensors { parameters[tensor.name] = tensor.data }
    try self.init(
      config: config, parameters: parameters, threads: threads, precision: precision, calibration: calibration,
      fp16ArithmeticGroups: fp16ArithmeticGroups, int8Groups: int8Groups)
  }
}
