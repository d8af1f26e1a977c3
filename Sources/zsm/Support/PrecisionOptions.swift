import ArgumentParser
import ZSMRuntime

extension Precision: ExpressibleByArgument {}

/// `--precision`, `--calibration` and `--winograd`, shared by the commands that run the network.
struct PrecisionOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Numeric precision: fp32, fp16 (half the memory; fp16 arithmetic in most 3x3 convs on ARMv8.2 FP16 CPUs,"
        + " fp32 arithmetic elsewhere) or int8 (needs a calibration table).",
      valueName: "fp32|fp16|int8"))
  var precision: Precision = .fp32

  @Option(
    help: ArgumentHelp(
      "int8 calibration table (default: Calibration/<model sha256>-int8.json, made by zsm calibrate).",
      valueName: "path"))
  var calibration: String?

  @Flag(
    inversion: .prefixedNo,
    help:
      "Run the eligible stride-1 3x3 convolutions by Winograd F(4,3) (default: the board's tuning.winograd, else on).")
  var winograd: Bool?

  /// Applies `--winograd` / `--no-winograd` (before weights are packed; after a board's tuning).
  func applyWinograd() {
    if let winograd { RuntimeTuning.winograd = winograd }
  }
}
