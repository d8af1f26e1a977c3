import ArgumentParser
import Foundation
import ZSMModel
import ZSMPipeline
import ZSMRuntime

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Describe a checkpoint: configuration, parameters, compute and memory for a window.",
    discussion: helpText(
      """
      Loads and strictly verifies the checkpoint (every expected tensor present with
      the right shape, nothing extra), infers its configuration, and plans a window
      of --frames input frames of --size to report MACs per output frame by stage
      (docs/architecture.md §11; the deformable convs count as their dense
      equivalent) and the size of the memory arena.

      Example:
        zsm inspect --size 80x60                                  # the shipped ZSM-Lite
        zsm inspect --model xiang2020zooming.pth --size 180x144 --frames 4
        zsm inspect --model xiang2020zooming.pth --precision fp16   # the fp16 arena and weights
      """))

  @Option(help: "Checkpoint (.pth); default: the shipped ZSM-Lite, Models/zsm-lite.pth.")
  var model: String?

  @Argument(help: "Checkpoint, as a positional argument (the same as --model).")
  var positionalModel: String?

  @Option(help: "LR frame size WxH (each at most 4096).")
  var size: String = "180x144"

  @Option(help: "Input frames per window, 2...1024.")
  var frames: Int = 4

  @OptionGroup var precision: PrecisionOptions

  @Option(
    name: .customLong("max-memory"),
    help: ArgumentHelp(
      "Memory cap in MB to plan tiles for, as upscale --max-memory (default: 80% of MemAvailable).", valueName: "MB"))
  var maxMemory: Int?

  func run() throws {
    let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
    guard parts.count == 2, parts[0] >= 1, parts[1] >= 1 else {
      throw ValidationError("--size must be WxH, e.g. 180x144; got '\(size)'")
    }
    guard (2...1024).contains(frames) else { throw ValidationError("--frames must be 2...1024, got \(frames)") }
    let (w, h) = (parts[0], parts[1])
    if model != nil && positionalModel != nil {
      throw ValidationError("give the checkpoint once: --model or positional")
    }
    let model = try resolvedModel(self.model ?? positionalModel)
    let stateDict: StateDict
    let config: ZSMConfig
    do { (stateDict, config) = try StateDict.loadZSM(path: model) } catch { throw CLIError(error.description) }
    let network: ZSMNetwork
    let arena: Int
    precision.applyWinograd()
    do {
      network =
        precision.precision == .fp32
        ? try ZSMNetwork(stateDict: stateDict, config: config, threads: 1)
        : try loadZSMNetwork(
          model: model, threads: 1, precision: precision.precision, calibration: precision.calibration)
      // Planned, not allocated: a window too large for this machine is still described.
      arena = try network.arenaBytes(frames: frames, height: h, width: w)
    } catch { throw CLIError("\(model): \(error.description)") }
    let macsPerWindow = network.macsPerWindow
    if let maxMemory {
      guard (1...(Int.max >> 20)).contains(maxMemory) else {
        throw ValidationError("--max-memory must be a positive number of MB, got \(maxMemory)")
      }
      MemoryLimit.bytes = maxMemory << 20
    }
    let memoryPlan: (tiles: TilePlan?, bytes: Int, spillsOutputs: Bool)
    do {
      memoryPlan = try ClipUpscaler.memoryPlan(network: network, windowSize: frames, width: w, height: h)
    } catch { throw CLIError("\(error)") }
    let t = 2 * frames - 1
    let pixels = Double(((h + 3) / 4 * 4) * ((w + 3) / 4 * 4))
    print("checkpoint      \(model)")
    print("configuration   \(config)")
    print("precision       \(network.precision)")
    print("tensors         \(stateDict.tensors.count)")
    print("parameters      \(grouped(stateDict.parameterCount))")
    print("window          \(frames) frames of \(w)x\(h) -> \(t) frames of \(4 * w)x\(4 * h)")
    print("MACs per output frame (GMAC, MAC per LR pixel):")
    var total = 0
    for stage in NetworkStage.allCases {
      let macs = macsPerWindow[stage] ?? 0
      total += macs
      let perFrame = Double(macs) / Double(t)
      print(
        "  \(stage.title.padding(toLength: 40, withPad: " ", startingAt: 0))\(pad(fmt(perFrame / 1e9, 2), 9))  \(pad(grouped(Int((perFrame / pixels).rounded())), 11))"
      )
    }
    let perFrame = Double(total) / Double(t)
    print(
      "  \("total".padding(toLength: 40, withPad: " ", startingAt: 0))\(pad(fmt(perFrame / 1e9, 2), 9))  \(pad(grouped(Int((perFrame / pixels).rounded())), 11))"
    )
    print("MACs per window \(fmt(Double(total) / 1e9, 3)) GMAC")
    print("arena           \(fmt(Double(arena) / 1e6, 1)) MB (every intermediate of a window)")
    print("packed weights  \(fmt(Double(network.weightBytes) / 1e6, 1)) MB")
    print("memory limit    \(MemoryLimit.formatted(MemoryLimit.bytes)) (--max-memory)")
    if let tiles = memoryPlan.tiles {
      print(tilePlanText(tiles, spills: memoryPlan.spillsOutputs, plannedBytes: memoryPlan.bytes))
    } else {
      print("tiles           none: a whole window fits (\(MemoryLimit.formatted(memoryPlan.bytes)) planned)")
    }
  }
}

func grouped(_ n: Int) -> String {
  let digits = String(n)
  var out = ""
  for (i, ch) in digits.reversed().enumerated() {
    if i > 0 && i % 3 == 0 { out.append(",") }
    out.append(ch)
  }
  return String(out.reversed())
}
