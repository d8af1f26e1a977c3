import ArgumentParser
import Foundation
import ZSMKernels
import ZSMPipeline
import ZSMVideo

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "PSNR and SSIM of a Y4M clip against a reference, on the Y channel.",
    discussion: """
      The protocol of the Zooming Slow-Mo paper (architecture.md §10): frames are decoded to
      RGB, quantised to 8 bits, Y = 16 + 65.481 R + 128.553 G + 24.966 B (BT.601, MATLAB's
      rgb2ycbcr) without border crop; PSNR with peak 255 per frame; SSIM with an 11x11
      Gaussian window (sigma 1.5) over the valid region. Prints every frame and the mean.

        zsm eval --reference hr.y4m --output out.y4m
      """)

  @Option(help: "Reference (ground truth) Y4M file.")
  var reference: String

  @Option(help: "Y4M file to score.")
  var output: String

  @Option(help: "YCbCr matrix of both files: auto (BT.709 from 720 lines), bt601 or bt709.")
  var matrix: String = "auto"

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
      if !json { print("frame \(psnrs.count - 1)  PSNR-Y \(fmt(psnrs.last!, 3)) dB  SSIM-Y \(fmt(ssims.last!, 4))") }
    }
    guard !psnrs.isEmpty else { throw CLIError("no frames to compare") }
    let meanPSNR = psnrs.reduce(0, +) / Double(psnrs.count)
    let meanSSIM = ssims.reduce(0, +) / Double(ssims.count)
    if json {
      let finite = { (x: Double) -> Any in x.isFinite ? x : "inf" }
      let doc: [String: Any] = [
        "frames": psnrs.count, "psnr_y": psnrs.map(finite), "ssim_y": ssims, "mean_psnr_y": finite(meanPSNR),
        "mean_ssim_y": meanSSIM,
      ]
      if let data = try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
      }
    } else {
      print("mean over \(psnrs.count) frames  PSNR-Y \(fmt(meanPSNR, 3)) dB  SSIM-Y \(fmt(meanSSIM, 4))")
    }
  }
}
