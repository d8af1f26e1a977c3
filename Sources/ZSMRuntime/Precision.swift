/// The numeric precision a network runs in (`--precision`).
///
/// - `fp32`: every tensor and weight in fp32.
/// - `fp16`: activations and weights stored as fp16 ("fp16 storage"), arithmetic in fp32 on
///   rows widened per thread; the offset/mask tensors of the deformable convolutions, the input
///   frames and the 4x tail's row bands stay fp32. On aarch64 built and running with ARMv8.2
///   FP16 (`CPUFeatures.fp16Arithmetic`) the 3x3 convolutions between fp16 maps that ZSMModel's
///   `FP16ArithmeticPolicy` allows run in fp16 arithmetic (`conv3x3F16Arith`) instead.
/// - `int8`: fp32 tensors; the convolutions that calibration showed to be insensitive run on
///   8-bit activations and weights (needs a calibration table made by `zsm calibrate`).
public enum Precision: String, CaseIterable, Sendable, CustomStringConvertible {
  case fp32, fp16, int8

  public var description: String { rawValue }

  /// Parses a `--precision` value, with the accepted values in the error.
  public init(parsing text: String) throws(ShapeError) {
    guard let p = Precision(rawValue: text.lowercased()) else {
      throw ShapeError("unknown precision '\(text)' (use fp32, fp16 or int8)")
    }
    self = p
  }
}
