import ZSMKernels

/// The two reference points every space-time result is compared with (issue 13), made from the
/// same low-resolution clip the network sees: each input frame upscaled x4 by bicubic (PyTorch's
/// `interpolate`, as ZSM-Lite's skip), and the frame between two inputs either the previous
/// input's upscale (duplication, what a frame-rate-unaware upscaler shows) or the mean of the two
/// neighbours' upscales (blend).
public enum TemporalBaseline: String, CaseIterable, Sendable {
  case duplicate = "bicubic + duplicate"
  case blend = "bicubic + blend"

  /// Output frame `k` (of 2L − 1) as planar RGB `[3][4h][4w]`, from the planar RGB input frames
  /// `k / 2` (`previous`) and `k / 2 + 1` (`next`, nil for the last frame); `scratch` holds `w`
  /// floats.
  public func frame(
    index k: Int, previous: UnsafePointer<Float>, next: UnsafePointer<Float>?, height h: Int, width w: Int,
    into output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
  ) {
    let plane = 16 * h * w
    output.update(repeating: 0, count: 3 * plane)
    let second = k % 2 == 1 && self == .blend ? next : nil
    for row in 0..<(4 * h) {
      Bicubic4x.addRow(
        previous, second, channels: 3, height: h, width: w, row: row, into: output + row * 4 * w,
        planeStride: plane, outputWidth: 4 * w, scratch: scratch)
    }
  }
}

/// Mean PSNR-Y and SSIM-Y of a run, split by output position: input positions (even output
/// frames) and interpolated positions (odd).
public struct PositionScores: Sendable {
  public private(set) var psnr: [Double] = []
  public private(set) var ssim: [Double] = []

  public init() {}

  public mutating func add(psnr p: Double, ssim s: Double) {
    psnr.append(p)
    ssim.append(s)
  }

  /// Means over the frames at `positions` (`nil`: all).
  public func mean(interpolated: Bool?) -> (psnr: Double, ssim: Double, frames: Int) {
    var p = 0.0
    var s = 0.0
    var n = 0
    for k in psnr.indices where interpolated == nil || (k % 2 == 1) == interpolated {
      p += psnr[k]
      s += ssim[k]
      n += 1
    }
    return n == 0 ? (.nan, .nan, 0) : (p / Double(n), s / Double(n), n)
  }
}
