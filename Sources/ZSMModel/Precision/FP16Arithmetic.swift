import ZSMRuntime

/// Which convolutions run in fp16 arithmetic with `--precision fp16` on CPUs that have it
/// (ARMv8.2 FP16: Cortex-A55/A76/A78, so the Pi 5, the RK3588 and the Jetson Orin; see
/// `CPUFeatures.fp16Arithmetic`), and why the others keep fp16 storage.
///
/// A layer runs `conv3x3F16Arith` (fp16 FMAs per kernel row, the three row sums added in fp32,
/// bias and activation from fp32) when its group is in `groups`, it is 3x3, and its input is an
/// fp16 map; it writes fp16, or fp32 where its output is an fp32 map (then without a residual).
/// A deformable convolution between fp16 maps runs `deformConv3x3F16Arith` (its samples
/// rounded to fp16 columns, then the same tiles). That leaves in fp16 storage (fp32 arithmetic
/// on widened rows), whatever `groups` says:
/// - `conv_first`: it reads the fp32 input frame;
/// - the 1x1 fusions.
/// `conv_last` (3 output channels) runs its own kernel in fp16 arithmetic
/// (`conv3x3NarrowOutputF16Arith`: 8-lane fp16 sums over the input channels, 18 products each
/// at tail width 16, added across lanes in fp32).
/// What runs in fp16 arithmetic: the residual blocks (feature extraction and reconstruction
/// trunk), the pyramid convs (also the state aligners'), the offset feature convs
/// `L*_offset_conv*`, the `L*_fea_conv` merges, the ConvLSTM gate conv, the deformable
/// convolutions and their `conv_offset_mask` (its offsets and mask written in fp32: it only
/// reads fp16), the 4x tail's `upconv1`, `upconv2` and `HRconv` (on fp16 row bands) and
/// `conv_last`. On the fixtures all of them together keep the network at 50 dB PSNR or more
/// against fp32 (FP16ArithmeticTests).
public enum FP16ArithmeticPolicy {
  /// The board files' layer groups (`Int8Policy.group(of:)`) allowed fp16 arithmetic.
  public static let groups: Set<String> = [
    "residual_blocks", "pyramid", "offset_convs", "fea_convs", "lstm_gates", "offset_mask", "deformable",
    "upsampling", "conv_last",
  ]

  /// Whether this build on this CPU runs the allowed layers in fp16 arithmetic.
  public static var available: Bool { CPUFeatures.fp16Arithmetic }
}
