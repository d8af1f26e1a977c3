import ArgumentParser
import Foundation
import ZSMKernels
import ZSMModel
import ZSMRuntime

struct Profile: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Profile this machine for a board file: peak, kernels, the network stage by stage, tuning.",
    discussion: helpText(
      """
      Measures the fp32 FMA peak, every kernel of `zsm bench` on the network's real layer shapes,
      and one window of the whole network stage by stage (A-D, and the deformable convolutions'
      sampling + multiply separately, which are part of B and C): ms, GFLOP/s, % of peak, share of
      the total, and the arena's bytes. Without --model it profiles the shipped ZSM-Lite; with
      --random-released, random weights of the released configuration (nf 64, groups 8, 5 front
      and 40 back residual blocks; the time does not depend on the values). Then it tunes the runtime's tunables (deformable tile pixels, row
      chunks per thread) by measurement, and shows every tuned layer against the defaults.

      --board NAME reads Boards/NAME.json (its threads and tuning are the starting point);
      --write stores the tuning and the measured figures back into it, with machine, date and
      command (refused when the board's CPU features are not this machine's).
        zsm profile --board x86_64-avx512 --size 180x144 --frames 4
        zsm profile --board rpi5 --write          # on a Raspberry Pi 5

      On a terminal a progress line on stderr says which step runs (--progress: also when stderr
      is a pipe or a log, one line per step); the report alone goes to stdout.
      """))

  @Option(help: "Board name (Boards/NAME.json).")
  var board: String?

  @Option(help: "Directory of the board files.")
  var boardsDir: String = "Boards"

  @Option(help: "LR frame size WxH of the profiled window.")
  var size: String = "180x144"

  @Option(help: "Input frames per window.")
  var frames: Int = 4

  @OptionGroup var precision: PrecisionOptions

  @Option(help: "Worker threads (default: the board's, else every CPU).")
  var threads: Int?

  @Option(help: "Checkpoint to profile; default: the shipped ZSM-Lite, Models/zsm-lite.pth.")
  var model: String?

  @Flag(help: "Profile random weights of the released configuration (nf 64, 40 blocks) instead of a checkpoint.")
  var randomReleased = false

  @Option(help: "Timed runs per measurement (the median is reported).")
  var reps: Int = 3

  @Flag(help: "Skip the tuning search.")
  var noTune = false

  @Flag(
    help:
      "Only time the whole network with every convolution direct and with Winograd, interleaved (--reps rounds).")
  var compareWinograd = false

  @Flag(
    help: ArgumentHelp(
      "Only measure the int8 candidate groups: fp32, int8 with the base groups, the base plus each other"
        + " candidate group alone, and every candidate, interleaved (--reps rounds): time of the window and of"
        + " the ConvLSTM stage, and PSNR against fp32 on the same input."))
  var compareInt8 = false

  @Option(
    help: ArgumentHelp(
      "Comma-separated layer groups that run in int8 with --precision int8 (default: the policy's; candidates:"
        + " residual_blocks, pyramid, fea_convs, upsampling, offset_convs, offset_mask, lstm_gates). For measuring.",
      valueName: "groups"))
  var int8Groups: String?

  @Option(
    help: ArgumentHelp(
      "With --compare-int8: a tensor file [1,N,3,H,W] to run (real frames; sets the size and frames).",
      valueName: "path"))
  var inputTensor: String?

  @Flag(help: "Print one JSON document instead of tables.")
  var json = false

  @Flag(help: "Write the tuning and measured figures into the board file.")
  var write = false

  @Flag(help: "Progress lines on stderr also when it is not a terminal (the report stays alone on stdout).")
  var progress = false

  func validate() throws {
    guard frames >= 2 else { throw ValidationError("--frames must be at least 2") }
    guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
    guard parsedSize != nil else { throw ValidationError("--size must be WxH with positive integers, got '\(size)'") }
    if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256") }
    if write && board == nil { throw ValidationError("--write needs --board") }
    if write && compareWinograd { throw ValidationError("--compare-winograd writes nothing; drop --write") }
    if write && compareInt8 { throw ValidationError("--compare-int8 writes nothing; drop --write") }
    if compareInt8 && compareWinograd { throw ValidationError("--compare-int8 and --compare-winograd: one at a time") }
    if inputTensor != nil && !compareInt8 { throw ValidationError("--input-tensor needs --compare-int8") }
    if write && int8Groups != nil { throw ValidationError("--int8-groups measures another policy; drop --write") }
  }

  var parsedSize: (width: Int, height: Int)? {
    let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
    guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { return nil }
    return (parts[0], parts[1])
  }

  func boardPath(_ name: String) -> String { (boardsDir as NSString).appendingPathComponent("\(name).json") }

  func run() throws {
    var profile: BoardProfile?
    if let board {
      do { profile = try BoardProfile.load(path: boardPath(board), expectedName: board) } catch {
        throw CLIError(error.message)
      }
    }
    if let p = profile {
      RuntimeTuning.apply(p)
      if p.arch != CPUFeatures.arch {
        throw CLIError("board \(p.name) is \(p.arch); this machine is \(CPUFeatures.arch): profile it on the board")
      }
    }
    let foreign = profile.map { p in
      CPUFeatures.available().map { CPUFeatures.missing(required: p.features, available: $0) } ?? []
    }
    let progressLine = ProgressLine(forced: progress)
    let start = monotonicSeconds()
    let step = { (text: String) in progressLine.update("profile [\(clockTime(monotonicSeconds() - start))]: \(text)") }
    if let missing = foreign, !missing.isEmpty, !write {
      progressLine.note(
        "warning: this CPU lacks \(missing.joined(separator: ", ")) of board \(board!): these are not its figures")
    }
    if write, let missing = foreign, !missing.isEmpty {
      throw CLIError(
        "this CPU lacks \(missing.joined(separator: ", ")) of board \(board!): its figures would not be the board's")
    }
    let t = threads ?? profile?.threads ?? ProcessInfo.processInfo.activeProcessorCount
    let (w, h) = parsedSize!
    var report = ProfileReport(board: board, threads: t, width: w, height: h, frames: frames)
    step("waiting (up to 20 s) until other processes leave the CPUs")
    report.foreignLoadAtStart = waitForQuietMachine()
    let pool = WorkerPool(threads: t)
    let onePool = WorkerPool(threads: 1)
    step("FMA peak, 1 thread")
    report.peak1 = measurePeak(pool: onePool)
    if t > 1 { step("FMA peak, \(t) threads") }
    report.peak = t == 1 ? report.peak1 : measurePeak(pool: pool)
    progressLine.note("peak: \(fmt(report.peak1 / 1e9, 1)) GFLOP/s 1T, \(fmt(report.peak / 1e9, 1)) GFLOP/s \(t)T")
    if compareInt8 {
      let text = try compareInt8(threads: t, step: step)
      progressLine.finish()
      print(text)
      return
    }
    if compareWinograd {
      let text = try compareWinograd(threads: t, width: w, height: h, step: step)
      progressLine.finish()
      print(text)
      return
    }

    // Kernels on the network's layer shapes.
    let cases = KernelBenchmarks.all()
    step("\(cases.count) kernels on the network's layer shapes, \(reps) round(s)")
    let kernelTimes = timeInterleaved(cases.map { c in { c.run(pool) } }, threads: t)
    report.kernels = zip(cases, kernelTimes).map { .init(name: $0.name, seconds: $1, flops: $0.flops) }

    // The whole network, stage by stage.
    report.network = try profileNetwork(threads: t, width: w, height: h, progress: progressLine, step: step)

    // Tuning.
    if !noTune {
      report.tuning = tune(pool: pool, threads: t, step: step)
      RuntimeTuning.deformableTilePixels = report.tuning!.chosenTile
      RuntimeTuning.rowChunksPerThread = report.tuning!.chosenChunks
    }
    progressLine.finish()
    print(json ? report.json() : report.table())
    if write, var p = profile {
      p = report.updating(p, command: CommandLine.arguments.joined(separator: " "))
      let text = p.json()
      do {
        _ = try BoardProfile.parse(Array(text.utf8), source: "the updated \(p.name)")
        try text.write(toFile: boardPath(p.name), atomically: true, encoding: .utf8)
      } catch { throw CLIError("cannot write \(boardPath(p.name)): \(error)") }
      note("wrote \(boardPath(p.name))")
    }
  }

  /// Medians of `reps` runs of each body, interleaved round-robin after one warm-up each.
  func timeInterleaved(_ bodies: [() -> Void], threads t: Int) -> [Double] {
    for b in bodies { b() }
    var times = [[Double]](repeating: [], count: bodies.count)
    for _ in 0..<reps {
      for (i, b) in bodies.enumerated() {
        times[i].append(timeUndisturbed(threads: t, minShare: t == 1 ? 0.9 : 0.75, b).seconds)
      }
    }
    return times.map(median)
  }

  func measurePeak(pool: WorkerPool) -> Double {
    let iterations = 20_000_000
    var best = 0.0
    for _ in 0..<5 {
      let r = timeUndisturbed(threads: pool.threadCount, minShare: 0.9) {
        pool.run(tasks: pool.threadCount, PeakJob(iterations: iterations))
      }
      best = max(best, Double(iterations * fmaPeakFlopsPerIteration * pool.threadCount) / r.seconds)
    }
    return best
  }

  func profileNetwork(
    threads t: Int, width w: Int, height h: Int, progress: ProgressLine, step: (String) -> Void
  ) throws -> ProfileReport.Network {
    let network: ZSMNetwork
    if !randomReleased {
      progress.finish()  // loading may say which model it takes
      network = try loadNetwork(
        path: try resolvedModel(model), threads: t, precision: precision, int8Groups: try baseInt8Groups())
    } else {
      precision.applyWinograd()
      network = try randomNetwork(
        config: .released, threads: t, precision: precision.precision, int8Groups: try baseInt8Groups())
    }
    do { try network.prepare(frames: frames, height: h, width: w) } catch { throw CLIError(error.description) }
    var rng = SplitMix(seed: 11)
    let input = (0..<(frames * 3 * h * w)).map { _ in 0.5 + 0.5 * rng.uniform() }
    var output = [Float](repeating: 0, count: (2 * frames - 1) * 3 * 16 * h * w)
    var runs: [(total: Double, stages: [NetworkStage: Double], deform: Double)] = []
    for i in 0...reps {
      step(
        i == 0
          ? "the network, \(w)x\(h), \(frames) frames: warm-up"
          : "the network, \(w)x\(h), \(frames) frames: run \(i) of \(reps)")
      // Re-timed (up to 5 times) when other processes took the cores: the network's stage
      // times are those of the accepted (last) run. Run 0 is a warm-up (first-touch faults).
      let r = timeUndisturbed(threads: t, minShare: 0.5) {
        input.withUnsafeBufferPointer { inp in
          output.withUnsafeMutableBufferPointer { out in network.run(input: inp.baseAddress!, output: out.baseAddress!)
          }
        }
      }
      if i > 0 { runs.append((r.seconds, network.lastRunStageSeconds, network.lastRunDeformableSeconds)) }
    }
    progress.note(
      "network run time (s): \(runs.map { fmt($0.total, 3) }.joined(separator: ", ")); median "
        + "\(fmt(median(runs.map(\.total)), 3)), min \(fmt(runs.map(\.total).min() ?? 0, 3))")
    let macs = network.macsPerWindow
    var stages: [ProfileReport.Stage] = NetworkStage.allCases.map { s in
      .init(name: s.title, seconds: median(runs.map { $0.stages[s] ?? 0 }), macs: macs[s] ?? 0)
    }
    stages.append(
      .init(
        name: "  of which deformable sampling + multiply (B, C)", seconds: median(runs.map(\.deform)),
        macs: network.deformableMACsPerWindow))
    return .init(
      config: "\(network.config), \(network.precision)", seconds: median(runs.map(\.total)), stages: stages,
      arenaBytes: network.arenaBytes, weightBytes: network.weightBytes, outputFrames: network.outputFrames)
  }

  /// Tries each tunable's candidates on the layers it affects (one at a time, the other fixed at
  /// its current value) and keeps the fastest; then times every affected layer with the defaults
  /// and with the choice, interleaved.
  func tune(pool: WorkerPool, threads t: Int, step: (String) -> Void) -> ProfileReport.Tuning {
    let startTile = RuntimeTuning.deformableTilePixels
    let startChunks = RuntimeTuning.rowChunksPerThread
    func deformCase(tile: Int) -> KernelBenchmark {
      let saved = RuntimeTuning.deformableTilePixels
      RuntimeTuning.deformableTilePixels = tile
      defer { RuntimeTuning.deformableTilePixels = saved }
      return KernelBenchmarks.deform3x3(channels: 64, groups: 8, width: 180, height: 144)
    }
    let tiles = Array(Set([12, 24, 36, 48, 72, 96, startTile])).sorted()
    step("tuning: \(tiles.count) deformable tile sizes")
    let tileTimes = timeInterleaved(
      tiles.map { tile in
        let c = deformCase(tile: tile)
        return { c.run(pool) }
      }, threads: t)
    // A candidate replaces the current value only when it is faster by more than the noise margin.
    let margin = 0.03
    let bestTile = tiles.indices.min { tileTimes[$0] < tileTimes[$1] }!
    let currentTile = tiles.firstIndex(of: startTile)!
    var chosenTile = tileTimes[bestTile] < (1 - margin) * tileTimes[currentTile] ? tiles[bestTile] : startTile
    var chunkCandidates = [startChunks]
    var chunkTimes: [Double] = []
    var chosenChunks = startChunks
    let layers = KernelBenchmarks.all().filter { !$0.name.hasPrefix("deform") } + [deformCase(tile: chosenTile)]
    if t > 1 {
      chunkCandidates = Array(Set([1, 2, 4, 8, startChunks])).sorted()
      step("tuning: \(chunkCandidates.count) row chunkings on every layer")
      // Total over every layer, per candidate.
      var totals = [Double](repeating: 0, count: chunkCandidates.count)
      for _ in 0..<reps {
        for (i, chunks) in chunkCandidates.enumerated() {
          RuntimeTuning.rowChunksPerThread = chunks
          for l in layers {
            totals[i] += timeUndisturbed(threads: t, minShare: 0.75) { l.run(pool) }.seconds
          }
        }
      }
      RuntimeTuning.rowChunksPerThread = startChunks
      chunkTimes = totals.map { $0 / Double(reps) }
      let best = chunkTimes.indices.min { chunkTimes[$0] < chunkTimes[$1] }!
      let current = chunkCandidates.firstIndex(of: startChunks)!
      if chunkTimes[best] < (1 - margin) * chunkTimes[current] { chosenChunks = chunkCandidates[best] }
    }
    // Defaults against the choice, layer by layer, interleaved.
    let defaults = BoardProfile.Tuning.defaults
    var rows: [ProfileReport.TunedLayer] = []
    let defaultDeform = deformCase(tile: defaults.deformableTilePixels)
    let tunedDeform = deformCase(tile: chosenTile)
    let pairs: [(String, KernelBenchmark, KernelBenchmark)] =
      KernelBenchmarks.all().filter { !$0.name.hasPrefix("deform") }.map { ($0.name, $0, $0) }
      + [(defaultDeform.name, defaultDeform, tunedDeform)]
    var before = [[Double]](repeating: [], count: pairs.count)
    var after = [[Double]](repeating: [], count: pairs.count)
    step("tuning: every tuned layer, defaults against the choice")
    for (_, d, n) in pairs {
      d.run(pool)
      n.run(pool)
    }
    for _ in 0..<max(reps, 5) {
      for (i, (_, d, n)) in pairs.enumerated() {
        RuntimeTuning.rowChunksPerThread = defaults.rowChunksPerThread
        before[i].append(timeUndisturbed(threads: t, minShare: 0.75) { d.run(pool) }.seconds)
        RuntimeTuning.rowChunksPerThread = chosenChunks
        after[i].append(timeUndisturbed(threads: t, minShare: 0.75) { n.run(pool) }.seconds)
      }
    }
    RuntimeTuning.rowChunksPerThread = startChunks
    for (i, p) in pairs.enumerated() {
      rows.append(.init(name: p.0, defaultSeconds: median(before[i]), tunedSeconds: median(after[i])))
    }
    // The check: a choice other than the defaults stands only if the layers it affects got
    // faster in total; otherwise the defaults are kept (the table then shows the rejected choice).
    var accepted = true
    if chosenTile != defaults.deformableTilePixels || chosenChunks != defaults.rowChunksPerThread {
      let d = rows.reduce(0) { $0 + $1.defaultSeconds }
      let n = rows.reduce(0) { $0 + $1.tunedSeconds }
      if n >= d {
        accepted = false
        chosenTile = defaults.deformableTilePixels
        chosenChunks = defaults.rowChunksPerThread
      }
    }
    return .init(
      tileCandidates: tiles, tileSeconds: tileTimes, chosenTile: chosenTile, chunkCandidates: chunkCandidates,
      chunkSeconds: chunkTimes, chosenChunks: chosenChunks, layers: rows, accepted: accepted)
  }
}

/// A network with random weights of `config` (timing does not depend on the values). For int8
/// without a checkpoint there is nothing to calibrate, so every tensor gets one nominal scale
/// (the kernels' work does not depend on it).
func randomNetwork(
  config: ZSMConfig, threads: Int, precision: Precision = .fp32, int8Groups: Set<String> = Int8Policy.groups
) throws -> ZSMNetwork {
  let parameters = randomParameters(config: config)
  do {
    var table: CalibrationTable?
    if precision == .int8 {
      let names = try ZSMNetwork(config: config, parameters: parameters, threads: 1).int8TensorNames
      table = CalibrationTable(
        modelSHA256: String(repeating: "0", count: 64), method: "nominal (timing only)", clip: "none", frames: 0,
        windows: 0,
        entries: names.map { CalibrationTable.Entry(tensor: $0, scale: 1.0 / 64, zeroPoint: 128, min: -2, max: 2) },
        psnrY: [])
    }
    return try ZSMNetwork(
      config: config, parameters: parameters, threads: threads, precision: precision, calibration: table,
      int8Groups: int8Groups)
  } catch {
    throw CLIError("random network: \(error.description)")
  }
}

/// Seeded random weights of `config` (fan-in scaled).
func randomParameters(config: ZSMConfig) -> [String: [Float]] {
  var rng = SplitMix(seed: 7)
  var parameters: [String: [Float]] = [:]
  for (name, shape) in config.expectedParameters() {
    let count = shape.reduce(1, *)
    let fanIn = shape.count == 4 ? shape[1] * shape[2] * shape[3] : 1
    let scale = Float(1 / Double(fanIn).squareRoot())
    parameters[name] = (0..<count).map { _ in rng.uniform() * (shape.count == 4 ? scale : 0.01) }
  }
  if config.globalSkip { parameters[ZSMConfig.globalSkipKey] = [ZSMConfig.globalSkipBicubic] }
  return parameters
}

/// Everything `zsm profile` measured.
struct ProfileReport {
  struct Kernel {
    let name: String
    let seconds: Double
    let flops: Double
  }
  struct Stage {
    let name: String
    let seconds: Double
    let macs: Int
  }
  struct Network {
    let config: String
    let seconds: Double
    let stages: [Stage]
    let arenaBytes: Int
    let weightBytes: Int
    let outputFrames: Int
  }
  struct TunedLayer {
    let name: String
    let defaultSeconds: Double
    let tunedSeconds: Double
  }
  struct Tuning {
    let tileCandidates: [Int]
    let tileSeconds: [Double]
    let chosenTile: Int
    let chunkCandidates: [Int]
    let chunkSeconds: [Double]
    let chosenChunks: Int
    let layers: [TunedLayer]
    /// False when the check against the defaults showed no gain, so the defaults were kept.
    let accepted: Bool
  }

  let board: String?
  let threads: Int
  let width: Int
  let height: Int
  let frames: Int
  var foreignLoadAtStart = 0.0
  var peak1 = 0.0
  var peak = 0.0
  var kernels: [Kernel] = []
  var network: Network?
  var tuning: Tuning?

  func percent(_ flops: Double, _ seconds: Double) -> Double { 100 * flops / seconds / peak }

  func table() -> String {
    var l: [String] = []
    l.append(
      "zsm profile: board \(board ?? "(none)"), \(threads) thread(s), window \(frames) x \(width)x\(height); "
        + "foreign load at start \(fmt(foreignLoadAtStart, 2)) cores")
    l.append("built for: \(CPUFeatures.arch) \(CPUFeatures.compiledFor.joined(separator: " "))")
    l.append("fp32 FMA peak: \(fmt(peak1 / 1e9, 1)) GFLOP/s 1T, \(fmt(peak / 1e9, 1)) GFLOP/s \(threads)T")
    l.append("")
    l.append("kernel".padding(toLength: 34, withPad: " ", startingAt: 0) + "        ms    GFLOP/s  % of peak")
    for k in kernels {
      l.append(
        k.name.padding(toLength: 34, withPad: " ", startingAt: 0) + pad(fmt(k.seconds * 1e3, 3), 10)
          + pad(fmt(k.flops / k.seconds / 1e9, 1), 11) + pad(fmt(percent(k.flops, k.seconds), 1), 11))
    }
    if let n = network {
      l.append("")
      l.append(
        "network \(n.config), one window -> \(n.outputFrames) frames: \(fmt(n.seconds * 1e3, 1)) ms; arena "
          + "\(n.arenaBytes) bytes (\(fmt(Double(n.arenaBytes) / 1e6, 1)) MB), weights \(fmt(Double(n.weightBytes) / 1e6, 1)) MB"
      )
      l.append("stage".padding(toLength: 50, withPad: " ", startingAt: 0) + "        ms    GFLOP/s  % of peak   share")
      for s in n.stages {
        let flops = 2 * Double(s.macs)
        l.append(
          s.name.padding(toLength: 50, withPad: " ", startingAt: 0) + pad(fmt(s.seconds * 1e3, 1), 10)
            + pad(fmt(flops / max(s.seconds, 1e-12) / 1e9, 1), 11)
            + pad(fmt(percent(flops, max(s.seconds, 1e-12)), 1), 11)
            + pad(fmt(100 * s.seconds / n.seconds, 1) + "%", 8))
      }
    }
    if let t = tuning {
      l.append("")
      l.append(
        "tuning: deformable tile pixels "
          + zip(t.tileCandidates, t.tileSeconds).map { "\($0)=\(fmt($1 * 1e3, 2))ms" }.joined(separator: " ")
          + " -> \(t.chosenTile)")
      if !t.chunkSeconds.isEmpty {
        l.append(
          "        row chunks per thread (sum of layers) "
            + zip(t.chunkCandidates, t.chunkSeconds).map { "\($0)=\(fmt($1 * 1e3, 2))ms" }.joined(separator: " ")
            + " -> \(t.chosenChunks)")
      } else {
        l.append("        row chunks per thread: not tuned at 1 thread (one chunk)")
      }
      l.append(
        t.accepted
          ? "check against the defaults (median of interleaved runs):"
          : "check against the defaults: no gain in total, so the defaults are kept; the rejected choice:")
      l.append("layer".padding(toLength: 34, withPad: " ", startingAt: 0) + "  default ms    tuned ms   change")
      for r in t.layers {
        l.append(
          r.name.padding(toLength: 34, withPad: " ", startingAt: 0) + pad(fmt(r.defaultSeconds * 1e3, 3), 12)
            + pad(fmt(r.tunedSeconds * 1e3, 3), 12)
            + pad(fmt(100 * (r.tunedSeconds / r.defaultSeconds - 1), 1) + "%", 9))
      }
    }
    return l.joined(separator: "\n")
  }

  func json() -> String {
    func r3(_ x: Double) -> Double { x.isFinite ? (x * 1000).rounded() / 1000 : 0 }
    var doc: [String: Any] = [
      "board": board ?? NSNull(), "built_for": CPUFeatures.compiledFor, "threads": threads, "width": width,
      "height": height, "frames": frames,
      "foreign_load_at_start": r3(foreignLoadAtStart), "peak_gflops_1t": r3(peak1 / 1e9), "peak_gflops": r3(peak / 1e9),
      "kernels": kernels.map {
        [
          "name": $0.name, "ms": r3($0.seconds * 1e3), "gflops": r3($0.flops / $0.seconds / 1e9),
          "percent_of_peak": r3(percent($0.flops, $0.seconds)),
        ] as [String: Any]
      },
    ]
    if let n = network {
      doc["network"] =
        [
          "config": n.config, "ms": r3(n.seconds * 1e3), "arena_bytes": n.arenaBytes, "weight_bytes": n.weightBytes,
          "stages": n.stages.map {
            [
              "name": $0.name.trimmingCharacters(in: .whitespaces), "ms": r3($0.seconds * 1e3), "macs": $0.macs,
              "gflops": r3(2 * Double($0.macs) / max($0.seconds, 1e-12) / 1e9),
              "percent_of_peak": r3(percent(2 * Double($0.macs), max($0.seconds, 1e-12))),
              "share": r3($0.seconds / n.seconds),
            ] as [String: Any]
          },
        ] as [String: Any]
    }
    if let t = tuning {
      doc["tuning"] =
        [
          "deformable_tile_pixels": t.chosenTile, "row_chunks_per_thread": t.chosenChunks, "accepted": t.accepted,
          "tile_candidates_ms": Dictionary(
            uniqueKeysWithValues: zip(t.tileCandidates, t.tileSeconds).map { ("\($0)", r3($1 * 1e3)) }),
          "chunk_candidates_ms": Dictionary(
            uniqueKeysWithValues: zip(t.chunkCandidates, t.chunkSeconds).map { ("\($0)", r3($1 * 1e3)) }),
          "layers": t.layers.map {
            ["name": $0.name, "default_ms": r3($0.defaultSeconds * 1e3), "tuned_ms": r3($0.tunedSeconds * 1e3)]
          },
        ] as [String: Any]
    }
    guard let data = try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted]) else {
      return "{}"
    }
    return String(decoding: data, as: UTF8.self)
  }

  /// `board` with this run's tuning and figures (measured, with provenance).
  func updating(_ board: BoardProfile, command: String) -> BoardProfile {
    var b = board
    let machine = machineDescription()
    let date = isoDate()
    let built =
      "zsm built for \(CPUFeatures.arch) \(CPUFeatures.compiledFor.joined(separator: " ")); other processes' "
      + "load at start \(fmt(foreignLoadAtStart, 2)) cores; \(threads)T peak \(fmt(peak / 1e9, 1)) GFLOP/s"
    func measured() -> BoardProfile.Provenance {
      .init(status: .measured, machine: machine, date: date, command: command, note: built)
    }
    if let t = tuning {
      b.tuning = .init(deformableTilePixels: t.chosenTile, rowChunksPerThread: t.chosenChunks, provenance: measured())
    }
    var figures: [BoardProfile.Figure] = [
      .init(name: "fma_peak_gflops_measured", value: r1(peak1 / 1e9), unit: "GFLOP/s", provenance: measured()),
      .init(name: "fma_peak_gflops_\(threads)t", value: r1(peak / 1e9), unit: "GFLOP/s", provenance: measured()),
    ]
    for k in kernels {
      figures.append(
        .init(name: "\(k.name) @\(threads)t", value: r3(k.seconds * 1e3), unit: "ms", provenance: measured()))
    }
    if let n = network {
      let tag = "\(width)x\(height)_n\(frames)_\(threads)t"
      figures.append(.init(name: "window_ms_\(tag)", value: r1(n.seconds * 1e3), unit: "ms", provenance: measured()))
      for s in n.stages {
        figures.append(
          .init(
            name: "stage \(s.name.trimmingCharacters(in: .whitespaces)) \(tag)", value: r1(s.seconds * 1e3), unit: "ms",
            provenance: measured()))
      }
      figures.append(
        .init(name: "arena_bytes_\(tag)", value: Double(n.arenaBytes), unit: "bytes", provenance: measured()))
    }
    let names = Set(figures.map(\.name))
    // Replace this run's figures; keep the others, except the placeholder this run measured.
    b.figures = b.figures.filter { !names.contains($0.name) } + figures
    return b
  }

  private func r1(_ x: Double) -> Double { (x * 10).rounded() / 10 }
  private func r3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}

func machineDescription() -> String {
  let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
  let model =
    cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }.map {
      String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces)
    } ?? CPUFeatures.arch
  return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) CPUs, host \(ProcessInfo.processInfo.hostName)"
}

func isoDate() -> String {
  let f = DateFormatter()
  f.dateFormat = "yyyy-MM-dd"
  f.timeZone = TimeZone(identifier: "UTC")
  return f.string(from: Date())
}
