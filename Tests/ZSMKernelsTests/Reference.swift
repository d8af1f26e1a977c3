import Foundation

// Plain scalar references on NCHW arrays, in Double, written from docs/architecture.md
// (§2 convolution, §4 DCNv2, §5 LSTM update, §7 resampling). They share no code with the kernels.

enum Reference {
  /// conv3x3 (pad 1) or conv1x1; returns (values, summation magnitudes).
  static func conv(
    input: [Float], cin: Int, height: Int, width: Int, weights: [Float], bias: [Float], cout: Int,
    kernel: Int, stride: Int
  ) -> (value: [Double], magnitude: [Double]) {
    let pad = kernel / 2
    let oh = (height + stride - 1) / stride
    let ow = (width + stride - 1) / stride
    var out = [Double](repeating: 0, count: cout * oh * ow)
    var mag = [Double](repeating: 0, count: cout * oh * ow)
    for o in 0..<cout {
      for y in 0..<oh {
        for x in 0..<ow {
          var s = Double(bias[o])
          var m = abs(Double(bias[o]))
          for c in 0..<cin {
            for i in 0..<kernel {
              for j in 0..<kernel {
                let iy = y * stride - pad + i
                let ix = x * stride - pad + j
                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                let p =
                  Double(weights[((o * cin + c) * kernel + i) * kernel + j])
                  * Double(input[(c * height + iy) * width + ix])
                s += p
                m += abs(p)
              }
            }
          }
          out[(o * oh + y) * ow + x] = s
          mag[(o * oh + y) * ow + x] = m
        }
      }
    }
    return (out, mag)
  }

  static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
  static func leaky(_ x: Double) -> Double { x < 0 ? 0.1 * x : x }

  /// Modulated deformable conv exactly as docs/architecture.md §4 (torchvision's rules).
  static func deformConv(
    input: [Float], channels: Int, height: Int, width: Int, offsetsAndMask: [Float], groups: Int,
    weights: [Float], bias: [Float], cout: Int
  ) -> (value: [Double], magnitude: [Double]) {
    let gk = groups * 9
    let perGroup = channels / groups
    func v(_ c: Int, _ r: Int, _ q: Int) -> Double {
      guard r >= 0, r < height, q >= 0, q < width else { return 0 }
      return Double(input[(c * height + r) * width + q])
    }
    func om(_ ch: Int, _ y: Int, _ x: Int) -> Double { Double(offsetsAndMask[(ch * height + y) * width + x]) }
    var out = [Double](repeating: 0, count: cout * height * width)
    var mag = [Double](repeating: 0, count: cout * height * width)
    for y in 0..<height {
      for x in 0..<width {
        // samples[c][k]
        var samples = [Double](repeating: 0, count: channels * 9)
        for c in 0..<channels {
          let g = c / perGroup
          for k in 0..<9 {
            let dy = om(g * 18 + 2 * k, y, x)
            let dx = om(g * 18 + 2 * k + 1, y, x)
            let m = sigmoid(om(2 * gk + g * 9 + k, y, x))
            let py = Double(y - 1 + k / 3) + dy
            let px = Double(x - 1 + k % 3) + dx
            var s = 0.0
            if !(py <= -1 || py >= Double(height) || px <= -1 || px >= Double(width)) {
              let y0 = Int(floor(py))
              let x0 = Int(floor(px))
              let ly = py - Double(y0)
              let lx = px - Double(x0)
              s =
                (1 - ly) * (1 - lx) * v(c, y0, x0) + (1 - ly) * lx * v(c, y0, x0 + 1)
                + ly * (1 - lx) * v(c, y0 + 1, x0) + ly * lx * v(c, y0 + 1, x0 + 1)
            }
            samples[c * 9 + k] = m * s
          }
        }
        for o in 0..<cout {
          var s = Double(bias[o])
          var mg = abs(s)
          for c in 0..<channels {
            for k in 0..<9 {
              let p = Double(weights[(o * channels + c) * 9 + k]) * samples[c * 9 + k]
              s += p
              mg += abs(p)
            }
          }
          out[(o * height + y) * width + x] = s
          mag[(o * height + y) * width + x] = mg
        }
      }
    }
    return (out, mag)
  }

  /// x2 bilinear upsampling with half-pixel centres (§7), times `scale`.
  static func upsample2x(_ input: [Float], channels: Int, height: Int, width: Int, scale: Double) -> [Double] {
    func taps(_ o: Int, _ n: Int) -> (Int, Int, Double) {
      let s = max((Double(o) + 0.5) / 2 - 0.5, 0)
      let i0 = Int(floor(s))
      return (i0, min(i0 + 1, n - 1), s - Double(i0))
    }
    let oh = 2 * height
    let ow = 2 * width
    var out = [Double](repeating: 0, count: channels * oh * ow)
    for c in 0..<channels {
      for y in 0..<oh {
        let (y0, y1, ly) = taps(y, height)
        for x in 0..<ow {
          let (x0, x1, lx) = taps(x, width)
          func v(_ r: Int, _ q: Int) -> Double { Double(input[(c * height + r) * width + q]) }
          let value = (1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) + ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1))
          out[(c * oh + y) * ow + x] = scale * value
        }
      }
    }
    return out
  }

  /// Pixel shuffle x2, PyTorch definition: out[c, 2h+a, 2w+b] = in[4c+2a+b, h, w].
  static func pixelShuffle(_ input: [Float], outChannels: Int, height: Int, width: Int) -> [Float] {
    var out = [Float](repeating: 0, count: outChannels * 4 * height * width)
    for c in 0..<outChannels {
      for h in 0..<height {
        for w in 0..<width {
          for a in 0..<2 {
            for b in 0..<2 {
              out[(c * 2 * height + 2 * h + a) * 2 * width + 2 * w + b] =
                input[((4 * c + 2 * a + b) * height + h) * width + w]
            }
          }
        }
      }
    }
    return out
  }
}
