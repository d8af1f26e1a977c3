/// Image quality with the Zooming Slow-Mo paper's protocol (docs/architecture.md §10), on the luma
/// of RGB frames: RGB in [0, 1] is first quantised to 8 bits (clamp, round half to even), then
/// Y = 16 + 65.481 R + 128.553 G + 24.966 B (MATLAB's BT.601 `rgb2ycbcr`, Y in 16...235).
/// No border is cropped.
public enum Quality {
  /// The protocol's Y plane of a planar RGB frame `[3][height][width]` in [0, 1].
  public static func luma(rgb: UnsafePointer<Float>, width: Int, height: Int) -> [Double] {
    let plane = width * height
    var y = [Double](repeating: 0, count: plane)
    for i in 0..<plane {
      let r = quantised(rgb[i])
      let g = quantised(rgb[plane + i])
      let b = quantised(rgb[2 * plane + i])
      y[i] = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    }
    return y
  }

  /// 8-bit code value of a channel in [0, 1]: clamped, scaled and rounded half to even in
  /// float32 arithmetic, exactly as NumPy does it on the network's float32 output.
  static func quantised(_ v: Float) -> Double {
    let scaled: Float = min(max(v, 0), 1) * 255
    return Double(scaled.rounded(.toNearestOrEven))
  }

  /// PSNR in dB with peak 255; +infinity for identical planes.
  public static func psnr(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count && !a.isEmpty)
    var sum = 0.0
    for i in a.indices {
      let d = a[i] - b[i]
      sum += d * d
    }
    let mse = sum / Double(a.count)
    return mse == 0 ? .infinity : 10 * log10Double(255 * 255 / mse)
  }

  /// Single-scale SSIM (Wang et al. 2004) as the upstream helper computes it: 11x11 Gaussian
  /// window with sigma 1.5, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, averaged over the valid
  /// region (windows wholly inside the frame). Frames smaller than 11 pixels use the whole
  /// frame as one window.
  public static func ssim(_ a: [Double], _ b: [Double], width: Int, height: Int) -> Double {
    precondition(a.count == width * height && b.count == a.count)
    let c1 = (0.01 * 255) * (0.01 * 255)
    let c2 = (0.03 * 255) * (0.03 * 255)
    let size = min(11, width, height)
    let kernel = gaussian(size: size, sigma: 1.5)
    let ma = filterValid(a, width, height, kernel)
    let mb = filterValid(b, width, height, kernel)
    let aa = filterValid(zip(a, a).map { $0 * $1 }, width, height, kernel)
    let bb = filterValid(zip(b, b).map { $0 * $1 }, width, height, kernel)
    let ab = filterValid(zip(a, b).map { $0 * $1 }, width, height, kernel)
    var total = 0.0
    for i in ma.indices {
      let m1 = ma[i]
      let m2 = mb[i]
      let s1 = aa[i] - m1 * m1
      let s2 = bb[i] - m2 * m2
      let s12 = ab[i] - m1 * m2
      total += ((2 * m1 * m2 + c1) * (2 * s12 + c2)) / ((m1 * m1 + m2 * m2 + c1) * (s1 + s2 + c2))
    }
    return total / Double(ma.count)
  }

  /// Normalised 1-D Gaussian (OpenCV `getGaussianKernel`).
  static func gaussian(size: Int, sigma: Double) -> [Double] {
    let centre = Double(size - 1) / 2
    let g = (0..<size).map { i in expDouble(-(Double(i) - centre) * (Double(i) - centre) / (2 * sigma * sigma)) }
    let sum = g.reduce(0, +)
    return g.map { $0 / sum }
  }

  /// Separable correlation with `kernel` x `kernel`, valid region only.
  static func filterValid(_ x: [Double], _ width: Int, _ height: Int, _ kernel: [Double]) -> [Double] {
    let k = kernel.count
    let ow = width - k + 1
    let oh = height - k + 1
    var rows = [Double](repeating: 0, count: height * ow)
    for y in 0..<height {
      for x0 in 0..<ow {
        var s = 0.0
        for j in 0..<k { s += kernel[j] * x[y * width + x0 + j] }
        rows[y * ow + x0] = s
      }
    }
    var out = [Double](repeating: 0, count: oh * ow)
    for y0 in 0..<oh {
      for x0 in 0..<ow {
        var s = 0.0
        for i in 0..<k { s += kernel[i] * rows[(y0 + i) * ow + x0] }
        out[y0 * ow + x0] = s
      }
    }
    return out
  }
}
