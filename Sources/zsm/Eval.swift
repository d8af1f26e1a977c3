import ArgumentParser
import Foundation
import ZSMKernels
import ZSMPipeline
import ZSMVideo

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "PSNR and SSIM of a Y4M clip against a reference, on the Y channel.",
    discussion: helpText(
      """
      The protocol of the Zooming Slow-Mo paper (docs/architecture.md §10): frames
      are decoded to RGB, quantised to 8 bits, Y = 16 + 65.481 R + 128.553 G +
      24.966 B (BT.601, MATLAB's rgb2ycbcr) without border crop; PSNR with peak 255
      per frame; SSIM with an 11x11 Gaussian window (sigma 1.5) over the valid
      region. Prints every frame and the mean.

        zsm eval --reference hr.y4m --output out.y4m
        zsm eval --reference hr.y4m --output out.y4m --baselines lr.y4m

      With --baselines LR (the low-resolution clip that was upscaled, whose frames
      sit at the even output positions), the same run also scores two baselines made
      from LR — every input frame x4 bicubic, the frames in between duplicated from
      the previous input or blended from both neighbours — and prints a table of
      means at input positions, at interpolated positions and overall, for the
      output and both baselines.
      """))

  @Option(help: "Reference (ground truth) Y4M file.")
  var reference: String

  @Option(help: "Y4M file to score.")
  var output: String

  @Option(help: "YCbCr matrix of both files: auto (BT.709 from 720 lines), bt601 or bt709.")
  var matrix: String = "auto"

  @Option(help: "Low-resolution clip the output was made from: also score bicubic baselines from it.")
  var baselines: String?

  @Flag(help: "Print one JSON document.")
  var json = false

  func run() throws {
    let ref: Y4MReader
    let out: Y4MReader
    do {
      ref = try Y4MReader(path: reference)
      out = try Y4MReader(path: output)
    } catch { throw CLIError(error.description) }
    let (w, h) = (ref.header.width, ref.header.height)
    guard out.header.width == w, out.header.height == h else {
      throw CLIError(
        "\(output) is \(out.header.width)x\(out.header.height), the reference \(reference) is \(w)x\(h)")
    }
    let m: YCbCrMatrix = matrix == "bt709" || (matrix == "auto" && h >= 720) ? .bt709 : .bt601
    var frameA = [UInt8](repeating: 0, count: ref.frameByteCount)
    var frameB = [UInt8](repeating: 0, count: out.frameByteCount)
    var rgb = [Float](repeating: 0, count: 3 * w * h)
    var psnrs: [Double] = []
    var ssims: [Double] = []
    var lowRes = try baselines.map { try BaselineSource(path: $0, highWidth: w, highHeight: h, matrix: m) }
    var baselineScores = [PositionScores](repeating: PositionScores(), count: TemporalBaseline.allCases.count)
    var outputScores = PositionScores()
    func luma(_ reader: Y4MReader, _ frame: inout [UInt8]) throws -> [Double]? {
      let got: Y4MFrameParameters?
      do { got = try frame.withUnsafeMutableBytes { buffer in try reader.readFrame(into: buffer) } } catch {
        throw CLIError("\(error)")
      }
      guard got != nil else { return nil }
      return rgb.withUnsafeMutableBufferPointer { p in
        frame.withUnsafeBytes { f in
          reader.header.convertToRGB(
            f, to: PlanarRGB(base: p.baseAddress!, width: w, height: h, rowStride: w, planeStride: w * h), matrix: m)
        }
        return Quality.luma(rgb: p.baseAddress!, width: w, height: h)
      }
    }
    while true {
      guard let a = try luma(ref, &frameA) else { break }
      guard let b = try luma(out, &frameB) else {
        note("warning: \(output) ends after \(psnrs.count) frames; the reference has more")
        break
      }
      psnrs.append(Quality.psnr(a, b))
      ssims.append(Quality.ssim(a, b, width: w, height: h))
      outputScores.add(psnr: psnrs.last!, ssim: ssims.last!)
      if lowRes != nil {
        for (i, baseline) in TemporalBaseline.allCases.enumerated() {
          guard let y = try lowRes!.luma(baseline, frame: psnrs.count - 1) else { break }
          baselineScores[i].add(psnr: Quality.psnr(a, y), ssim: Quality.ssim(a, y, width: w, height: h))
        }
      }
      if !json { print("frame \(psnrs.count - 1)  PSNR-Y \(fmt(psnrs.last!, 3)) dB  SSIM-Y \(fmt(ssims.last!, 4))") }
    }
    guard !psnrs.isEmpty else { throw CLIError("no frames to compare") }
    let meanPSNR = psnrs.reduce(0, +) / Double(psnrs.count)
    let meanSSIM = ssims.reduce(0, +) / Double(ssims.count)
    if json {
      let finite = { (x: Double) -> Any in x.isFinite ? x : "inf" }
      var doc: [String: Any] = [
        "frames": psnrs.count, "psnr_y": psnrs.map(finite), "ssim_y": ssims, "mean_psnr_y": finite(meanPSNR),
        "mean_ssim_y": meanSSIM,
      ]
      if lowRes != nil {
        var table: [String: Any] = [:]
        for (name, scores) in [("output", outputScores)]
          + zip(TemporalBaseline.allCases.map(\.rawValue), baselineScores)
        {
          var row: [String: Any] = [:]
          for (key, positions) in [("input", false), ("interpolated", true), ("all", nil)] as [(String, Bool?)] {
            let m = scores.mean(interpolated: positions)
            row[key] = ["psnr_y": finite(m.psnr), "ssim_y": m.ssim, "frames": m.frames]
          }
          table[name] = row
        }
        doc["comparison"] = table
      }
      if let data = try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
      }
    } else {
      print("mean over \(psnrs.count) frames  PSNR-Y \(fmt(meanPSNR, 3)) dB  SSIM-Y \(fmt(meanSSIM, 4))")
      if lowRes != nil {
        print("\nmeans, PSNR-Y dB / SSIM-Y      input frames       interpolated       all")
        let rows = [("output", outputScores)] + zip(TemporalBaseline.allCases.map(\.rawValue), baselineScores)
        for (name, scores) in rows {
          var line = name.padding(toLength: 30, withPad: " ", startingAt: 0)
          for positions in [false, true, nil] as [Bool?] {
            let m = scores.mean(interpolated: positions)
            line += " \(fmt(m.psnr, 2)) / \(fmt(m.ssim, 4))".padding(toLength: 19, withPad: " ", startingAt: 0)
          }
          print(line)
        }
      }
    }
  }
}

/// The low-resolution clip of `zsm eval --baselines`, read as the scoring goes: output frame `k`
/// needs input frames `k / 2` and `k / 2 + 1`.
struct BaselineSource {
  let reader: Y4MReader
  let path: String
  let matrix: YCbCrMatrix
  let width: Int
  let height: Int
  var raw: [UInt8]
  /// Planar RGB of input frame `index` and, when `hasFollowing`, of frame `index + 1`.
  var current: [Float]
  var following: [Float]
  var index = -1
  var hasFollowing = false
  var hr: [Float]
  var scratch: [Float]

  init(path: String, highWidth: Int, highHeight: Int, matrix: YCbCrMatrix) throws {
    do { reader = try Y4MReader(path: path) } catch { throw CLIError(error.description) }
    self.path = path
    self.matrix = matrix
    width = reader.header.width
    height = reader.header.height
    guard 4 * width == highWidth, 4 * height == highHeight else {
      throw CLIError(
        "--baselines \(path) is \(width)x\(height): the reference is \(highWidth)x\(highHeight), not 4x that")
    }
    raw = [UInt8](repeating: 0, count: reader.frameByteCount)
    current = [Float](repeating: 0, count: 3 * width * height)
    following = current
    hr = [Float](repeating: 0, count: 48 * width * height)
    scratch = [Float](repeating: 0, count: width)
  }

  /// Decodes the next input frame of `reader` into `destination` (planar RGB, reusing the
  /// buffers); false at the end of the clip.
  static func read(
    _ reader: Y4MReader, path: String, matrix: YCbCrMatrix, raw: inout [UInt8], into destination: inout [Float]
  ) throws -> Bool {
    let got: Y4MFrameParameters?
    do { got = try raw.withUnsafeMutableBytes { try reader.readFrame(into: $0) } } catch {
      throw CLIError("\(path): \(error)")
    }
    guard got != nil else { return false }
    let (w, h) = (reader.header.width, reader.header.height)
    destination.withUnsafeMutableBufferPointer { p in
      raw.withUnsafeBytes { f in
        reader.header.convertToRGB(
          f, to: PlanarRGB(base: p.baseAddress!, width: w, height: h, rowStride: w, planeStride: w * h),
          matrix: matrix)
      }
    }
    return true
  }

  /// Makes `current` input frame `i` (frames are asked for in order); false past the clip's end.
  mutating func load(_ i: Int) throws -> Bool {
    if index < 0 {
      guard try Self.read(reader, path: path, matrix: matrix, raw: &raw, into: &current) else { return false }
      index = 0
      hasFollowing = try Self.read(reader, path: path, matrix: matrix, raw: &raw, into: &following)
    }
    while index < i {
      guard hasFollowing else { return false }
      swap(&current, &following)
      index += 1
      hasFollowing = try Self.read(reader, path: path, matrix: matrix, raw: &raw, into: &following)
    }
    return true
  }

  /// The luma of `baseline`'s output frame `k`; nil when the low-resolution clip has no frame
  /// for it.
  mutating func luma(_ baseline: TemporalBaseline, frame k: Int) throws -> [Double]? {
    guard try load(k / 2), k % 2 == 0 || hasFollowing else { return nil }
    let (w, h, next) = (width, height, hasFollowing)
    return current.withUnsafeBufferPointer { a in
      following.withUnsafeBufferPointer { b in
        hr.withUnsafeMutableBufferPointer { out in
          scratch.withUnsafeMutableBufferPointer { s in
            baseline.frame(
              index: k, previous: a.baseAddress!, next: next ? b.baseAddress! : nil, height: h, width: w,
              into: out.baseAddress!, scratch: s.baseAddress!)
            return Quality.luma(rgb: out.baseAddress!, width: 4 * w, height: 4 * h)
          }
        }
      }
    }
  }
}
