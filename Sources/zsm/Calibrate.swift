import ArgumentParser
import Foundation
import ZSMModel
import ZSMPipeline
import ZSMRuntime

struct Calibrate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Make the int8 calibration table of a model from a sample clip.",
    discussion: helpText(
      """
      Runs the fp32 network over the first --frames frames of a Y4M clip (windows of
      --window, as zsm upscale does), records the range of the input of every 3x3 convolution
      int8 may run (the candidates: residual blocks, pyramid, offset and fea convs, the offset
      and mask convs, the ConvLSTM gate conv, upconvs, HRconv; the table has them all, also
      those the policy keeps fp32), turns each range into an asymmetric 8-bit scale and zero
      point, then runs the int8 network over the same frames and measures it against fp32
      (PSNR-Y of every output frame). The table is written to
      Calibration/<model sha256>-int8.json, where --precision int8 finds it (infer, upscale,
      live, daemon, profile). A table without an entry for a layer that runs in int8 (made by
      an older runtime) is refused with this command.

      Range method: by default the 99.99th percentile of each side of a log-binned histogram
      (--quantile 0.9999), so a few extreme values do not stretch the scale over codes the
      rest never uses; --quantile 1 uses plain min/max.

      Use a clip that looks like what the model will see (same camera, lighting, size). A
      table is tied to the checkpoint's sha256 and to the table format of this runtime; zsm
      refuses tables made for another model or format.

        zsm calibrate --model xiang2020zooming.pth --input sample.y4m --frames 16 --precision int8
      """))

  @Option(help: "Checkpoint (.pth); default: the shipped ZSM-Lite, Models/zsm-lite.pth.")
  var model: String?

  @Option(name: [.customShort("i"), .long], help: "Sample clip (Y4M file; read twice, so not a pipe).")
  var input: String

  @Option(help: "Input frames to calibrate on (from the start of the clip).")
  var frames: Int = 16

  @Option(help: "Input frames per window.")
  var window: Int = 4

  @Option(help: ArgumentHelp("Precision to calibrate for (only int8 needs a table).", valueName: "int8"))
  var precision: Precision = .int8

  @Option(help: "Fraction of each side's values the range keeps (1: min/max).")
  var quantile: Double = 0.9999

  @Option(name: [.customShort("o"), .long], help: "Table path (default: Calibration/<model sha256>-int8.json).")
  var output: String?

  @Option(help: "Worker threads.")
  var threads: Int = ProcessInfo.processInfo.activeProcessorCount

  func validate() throws {
    guard precision == .int8 else {
      throw ValidationError(
        "--precision \(precision) needs no calibration: fp32 is the reference and fp16 keeps the fp32 range")
    }
    guard frames >= 2 else { throw ValidationError("--frames must be at least 2") }
    guard window >= 2 else { throw ValidationError("--window must be at least 2") }
    guard quantile > 0.5 && quantile <= 1 else { throw ValidationError("--quantile must be in (0.5, 1]") }
    guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be 1...256") }
  }

  func run() throws {
    let start = monotonicSeconds()
    let result: Calibrator.Result
    do {
      result = try Calibrator.calibrate(
        model: try resolvedModel(model), clip: input, frames: frames, window: window, threads: threads,
        quantile: quantile,
        progress: { note($0) })
    } catch { throw CLIError("\(error)") }
    let table = result.table
    let path = output ?? CalibrationTable.defaultPath(modelSHA256: table.modelSHA256)
    do { try table.write(to: path) } catch { throw CLIError(error.description) }
    let finite = table.psnrY.filter(\.isFinite)
    note(
      "\(table.entries.count) int8 tensors from \(table.frames) frames (\(table.windows) windows); "
        + "method: \(table.method)")
    note(
      "int8 vs fp32, PSNR-Y over \(table.psnrY.count) output frames: mean \(fmt(table.meanPSNRY, 2)) dB, "
        + "min \(fmt(finite.min() ?? .infinity, 2)) dB, max \(fmt(finite.max() ?? .infinity, 2)) dB")
    note(
      "network time: fp32 \(fmt(result.fp32Seconds, 2)) s, int8 \(fmt(result.int8Seconds, 2)) s "
        + "(\(fmt(result.fp32Seconds / max(result.int8Seconds, 1e-9), 2))x); total \(fmt(monotonicSeconds() - start, 1)) s"
    )
    note("wrote \(path)")
  }
}
