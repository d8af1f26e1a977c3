import CAllocCounter
import XCTest
import ZSMKernels
import ZSMRuntime

/// Runs a small graph of every kernel family through one planned arena and proves that, after
/// a warm-up pass, a pass performs no heap allocation at all (malloc & co. are interposed and
/// counted process-wide by CAllocCounter).
final class ZeroAllocationTests: XCTestCase {
  func testCounterSeesAllocations() {
    zsm_alloc_counter_start()
    let array = [Int](repeating: 1, count: Int.random(in: 100...200))
    let n = zsm_alloc_counter_stop()
    XCTAssertGreaterThan(array.count, 0)
    XCTAssertGreaterThan(n, 0, "the interposer must see a Swift array allocation")
  }

  func testPlannedGraphAllocatesNothingAfterWarmUp() throws {
    for threads in [1, 2] {
      let graph = try MiniGraph(threads: threads)
      graph.step()  // warm-up
      zsm_alloc_counter_start()
      for _ in 0..<3 { graph.step() }
      let allocations = zsm_alloc_counter_stop()
      XCTAssertEqual(allocations, 0, "\(threads) thread(s): heap allocations during planned passes")
      XCTAssertGreaterThan(graph.plan.totalBytes, 0)
      XCTAssertLessThan(graph.plan.totalBytes, graph.plan.unplannedBytes, "liveness lets tensors share memory")
    }
  }
}

/// conv3x3 -> conv3x3/2 -> offsets -> DCN, x2 upsample into a concatenation, 1x1 fusion,
/// gates conv, LSTM update, a conv with pixel-shuffle outputs and the shuffle itself.
final class MiniGraph {
  let c = 16
  let groups = 2
  let h = 12
  let w = 16
  let pool: WorkerPool
  let arena: Arena
  let plan: ArenaPlan
  let weights: WeightStorage
  let scratch: UnsafeMutablePointer<Float>
  var tensors: [TensorView] = []
  let convA, convDown, offsetConv, fuse, gates, upconv: Conv2D
  let dcn: DeformableConv2D

  init(threads: Int) throws {
    pool = WorkerPool(threads: threads)
    func layout(_ cin: Int, _ cout: Int, _ taps: Int) -> ConvWeightLayout {
      ConvWeightLayout(inputChannels: cin, outputChannels: cout, taps: taps)
    }
    let layouts = [
      layout(c, c, 9), layout(c, c, 9), layout(c, 27 * groups, 9), layout(c, c, 9), layout(2 * c, c, 1),
      layout(c, 4 * c, 9), layout(c, 4 * c, 9),
    ]
    weights = WeightStorage(floatCount: layouts.reduce(0) { $0 + WeightStorage.floatCount(for: $1) })
    var packed: [PackedConvWeights] = []
    for (i, l) in layouts.enumerated() {
      let count = l.outputChannels * l.inputChannels * l.taps
      let wv = (0..<count).map { Float(($0 * 7 + i) % 13) / 13 - 0.5 }
      let bv = (0..<l.outputChannels).map { Float($0 % 5) / 10 }
      packed.append(weights.pack(l, weights: wv, bias: bv))
    }
    convA = Conv2D(name: "a", kernelSize: 3, epilogue: .leakyRelu, weights: packed[0])
    convDown = Conv2D(name: "down", kernelSize: 3, stride: 2, epilogue: .leakyRelu, weights: packed[1])
    offsetConv = Conv2D(name: "offsets", kernelSize: 3, epilogue: .none, weights: packed[2])
    dcn = DeformableConv2D(name: "dcn", groups: groups, epilogue: .none, weights: packed[3])
    fuse = Conv2D(name: "fuse", kernelSize: 1, epilogue: .none, weights: packed[4])
    gates = Conv2D(name: "gates", kernelSize: 3, epilogue: .none, weights: packed[5])
    upconv = Conv2D(
      name: "up", kernelSize: 3, epilogue: .none, weights: packed[6])

    // Tensors and their lifetimes (step indices).
    let descriptors: [(String, TensorDescriptor, Int, Int)] = [
      ("x", .init(height: h, width: w, channels: c, halo: 1), 0, 0),
      ("a", .init(height: h, width: w, channels: c, halo: 1), 0, 3),
      ("down", .init(height: h / 2, width: w / 2, channels: c), 1, 4),
      ("offsets", .init(height: h, width: w, channels: 27 * groups), 2, 3),
      ("concat", .init(height: h, width: w, channels: 2 * c), 3, 5),
      ("fused", .init(height: h, width: w, channels: c, halo: 1), 5, 6),
      ("gates", .init(height: h, width: w, channels: 4 * c), 6, 7),
      ("cell", .init(height: h, width: w, channels: c), 7, 7),
      ("hidden", .init(height: h, width: w, channels: c, halo: 1), 7, 8),
      ("phases", .init(height: h, width: w, channels: 4 * c), 8, 9),
      ("shuffled", .init(height: 2 * h, width: 2 * w, channels: c), 9, 9),
    ]
    var planner = ArenaPlanner()
    for (name, d, first, last) in descriptors { planner.add(name, bytes: d.byteCount, firstUse: first, lastUse: last) }
    plan = try planner.plan()
    arena = try Arena(byteCount: plan.totalBytes)
    for (i, (_, d, _, _)) in descriptors.enumerated() {
      tensors.append(TensorView(d, storage: arena.floats(at: plan.offset(of: i))))
    }
    scratch = .allocate(capacity: dcn.scratchFloatsPerWorker * threads)
    // Validate every op once, at plan time.
    try convA.validate(input: t("x"), output: t("a"), residual: nil)
    try convDown.validate(input: t("a"), output: t("down"), residual: nil)
    try offsetConv.validate(input: t("a"), output: t("offsets"), residual: nil)
    try dcn.validate(input: t("a"), offsetsAndMask: t("offsets"), output: t("concat").channels(0, c))
    try fuse.validate(input: t("concat"), output: t("fused"), residual: nil)
    try gates.validate(input: t("fused"), output: t("gates"), residual: nil)
    try upconv.validate(input: t("hidden"), output: t("phases"), residual: nil)
  }

  deinit { scratch.deallocate() }

  func t(_ name: String) -> TensorView {
    let names = ["x", "a", "down", "offsets", "concat", "fused", "gates", "cell", "hidden", "phases", "shuffled"]
    return tensors[names.firstIndex(of: name)!]
  }

  func step() {
    let x = tensors[0], a = tensors[1], down = tensors[2], offsets = tensors[3], concat = tensors[4]
    let fused = tensors[5], gatesOut = tensors[6], cell = tensors[7], hidden = tensors[8]
    let phases = tensors[9], shuffled = tensors[10]
    x.clearHalo()
    x.map.rowSlice(0, h).base.update(repeating: 0.25, count: 8)
    a.clearHalo()
    convA.runUnchecked(input: x.map, output: a.map, residual: nil, pool: pool)
    convDown.runUnchecked(input: a.map, output: down.map, residual: nil, pool: pool)
    offsetConv.runUnchecked(input: a.map, output: offsets.map, residual: nil, pool: pool)
    let dcnOut = concat.map.channelSlice(0, c)
    dcn.runUnchecked(input: a.map, offsetsAndMask: offsets.map, output: dcnOut, pool: pool, scratch: scratch)
    Upsample2x(input: down.map, output: concat.map.channelSlice(c, c), scale: 2).run(pool: pool)
    fused.clearHalo()
    fuse.runUnchecked(input: concat.map, output: fused.map, residual: nil, pool: pool)
    gates.runUnchecked(input: fused.map, output: gatesOut.map, residual: nil, pool: pool)
    hidden.clearHalo()
    LSTMUpdate(gates: gatesOut.map, cellIn: cell.map, cellOut: cell.map, hiddenOut: hidden.map).run(pool: pool)
    upconv.runUnchecked(input: hidden.map, output: phases.map, residual: nil, pool: pool)
    PixelShuffle2x(input: phases.map, output: shuffled.map, leaky: true).run(pool: pool)
  }
}
