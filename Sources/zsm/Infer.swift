import ArgumentParser
import Foundation
import ZSMModel
import ZSMRuntime

struct Infer: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the network on a tensor file: [1,N,3,H,W] in, [1,2N-1,3,4H,4W] out.",
    discussion: helpText(
      """
      Tensor mode drives the exact network with float32 tensors, so numpy users and tests can
      compare it with PyTorch. Files use the `.bin` format of Tests/Fixtures/README.md:
      magic `ZSMRAW01`, a JSON header, then float32 values in C order. The input holds N >= 2
      RGB frames in [0, 1] of any size (padded to multiples of 4 internally and cropped back);
      the output holds 2N-1 frames at 4x, unclamped.

      Example:
        zsm infer --model xiang2020zooming.pth --input clip.bin --output out.bin --threads 4

      Timing and memory go to standard error. --runs repeats the window to time it (the
      first run includes first-touch page faults of the arena; the median is reported).
      """))

  @Option(help: "Checkpoint (.pth, PyTorch zip or legacy container); default: the shipped ZSM-Lite.")
  var model: String?

  @Option(help: "Input tensor file [1,N,3,H,W].")
  var input: String

  @Option(help: "Output tensor file [1,2N-1,3,4H,4W].")
  var output: String

  @Option(help: "Worker threads.")
  var threads: Int = ProcessInfo.processInfo.activeProcessorCount

  @Option(help: "Times to run the window (for timing; the output of the last run is written).")
  var runs: Int = 1

  @OptionGroup var precision: PrecisionOptions

  @Option(
    help: ArgumentHelp(
      "Comma-separated layer groups that run in int8 (default: the policy's); for measuring.", valueName: "groups",
      visibility: .hidden))
  var int8Groups: String?

  @Option(help: "Board file whose tuning to use (Boards/NAME.json, see zsm profile).")
  var board: String?

  @Option(help: "Directory of the board files.")
  var boardsDir: String = "Boards"

  func validate() throws {
    guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be 1...256, got \(threads)") }
    guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
  }

  func run() throws {
    if let board {
      let path = (boardsDir as NSString).appendingPathComponent("\(board).json")
      do { RuntimeTuning.apply(try BoardProfile.load(path: path, expectedName: board)) } catch {
        throw CLIError(error.message)
      }
    }
    // Fail before the long computation if the result could not be written.
    guard FileManager.default.createFile(atPath: output, contents: nil) else {
      throw CLIError("\(output): cannot create the output file")
    }
    let t0 = monotonicSeconds()
    var groups = Int8Policy.groups
    if let int8Groups {
      switch Int8Policy.parseGroups(int8Groups) {
      case .success(let g): groups = g
      case .failure(let error): throw CLIError("--int8-groups: \(error.description)")
      }
    }
    let network = try loadNetwork(
      path: try resolvedModel(model), threads: threads, precision: precision, int8Groups: groups)
    let loaded = monotonicSeconds()
    let tensor: TensorFile
    do { tensor = try TensorFile.read(path: input) } catch { throw CLIError("\(error)") }
    let s = tensor.shape
    guard s.count == 5, s[0] == 1, s[1] >= 2, s[2] == 3, s[3] >= 1, s[4] >= 1 else {
      throw CLIError(
        "\(input): shape \(s) is not [1, N, 3, H, W] with N >= 2 (a batch of one clip of RGB frames)")
    }
    let (n, h, w) = (s[1], s[3], s[4])
    do { try network.prepare(frames: n, height: h, width: w) } catch { throw CLIError(error.description) }
    let t = 2 * n - 1
    var result = [Float](repeating: 0, count: t * 3 * 16 * h * w)
    var times: [Double] = []
    for _ in 0..<runs {
      let start = monotonicSeconds()
      tensor.data.withUnsafeBufferPointer { inp in
        result.withUnsafeMutableBufferPointer { out in network.run(input: inp.baseAddress!, output: out.baseAddress!) }
      }
      times.append(monotonicSeconds() - start)
    }
    let out = TensorFile(
      name: "output", shape: [1, t, 3, 4 * h, 4 * w], layout: "B,T=2N-1,C=3(RGB),4H,4W", data: result)
    do { try out.write(path: output) } catch { throw CLIError("\(error)") }
    let perFrame = median(times) / Double(t)
    note(
      "model: \(network.config) (loaded in \(fmt(loaded - t0, 2)) s), \(threads) thread(s), precision \(network.precision)"
    )
    note("window: \(n) frames of \(w)x\(h) -> \(t) frames of \(4 * w)x\(4 * h)")
    if network.precision == .int8 {
      note("int8: \(network.int8LayerNames.count) 3x3 convolutions in int8, the others in fp32")
    }
    if network.precision == .fp16 {
      let layers = network.fp16ArithmeticLayers.count
      note(
        network.runsFP16Arithmetic
          ? "fp16: \(layers) 3x3 convolutions in fp16 arithmetic, the others in fp16 storage"
          : "fp16: storage (fp32 arithmetic): this build or CPU has no ARMv8.2 fp16 arithmetic")
    }
    note(
      "arena \(fmt(Double(network.arenaBytes) / 1e6, 1)) MB, packed weights "
        + "\(fmt(Double(network.weightBytes) / 1e6, 1)) MB, peak RSS \(fmt(Double(peakResidentBytes()) / 1e6, 1)) MB")
    note(
      "run time (s): \(times.map { fmt($0, 3) }.joined(separator: ", ")); median \(fmt(median(times), 3)) s = "
        + "\(fmt(perFrame, 3)) s per output frame")
    let stageTimes = network.lastRunStageSeconds
    let macs = network.macsPerWindow
    for stage in NetworkStage.allCases {
      let seconds = stageTimes[stage] ?? 0
      let gflops = 2 * Double(macs[stage] ?? 0) / max(seconds, 1e-9) / 1e9
      note(
        "  \(stage.title.padding(toLength: 40, withPad: " ", startingAt: 0)) \(pad(fmt(seconds, 3), 8)) s  \(pad(fmt(gflops, 1), 7)) GFLOP/s (last run)"
      )
    }
    note("wrote \(output)")
  }
}

/// Loads, verifies and packs a checkpoint in the chosen precision; errors name the file and
/// the problem (and, for int8 without a table, the command that makes one).
func loadNetwork(
  path: String, threads: Int, precision: PrecisionOptions = PrecisionOptions(),
  int8Groups: Set<String> = Int8Policy.groups
) throws -> ZSMNetwork {
  precision.applyWinograd()
  do {
    return try loadZSMNetwork(
      model: path, threads: threads, precision: precision.precision, calibration: precision.calibration,
      int8Groups: int8Groups)
  } catch {
    throw CLIError(error.description)
  }
}
