import Foundation
import ZSMKernels
import ZSMModel
import ZSMRuntime
import ZSMVideo

/// `zsm calibrate`: int8 activation scales from a sample clip, and what they cost.
///
/// 1. The fp32 network upscales the first `frames` frames of the clip (windows of `window`,
///    exactly as `zsm upscale` does) while the input of every int8 layer is recorded into a
///    log-binned histogram (ActivationHistogram).
/// 2. Each tensor's clipping range is the `quantile` of each side of its histogram (1: min/max)
///    and becomes asymmetric u8 parameters (scale, zero point).
/// 3. The int8 network upscales the same frames; the Y planes of both outputs (the 8-bit Y4M
///    frames a user would get) give the PSNR-Y of every output frame.
public enum Calibrator {
  public struct Result {
    public let table: CalibrationTable
    public let fp32Seconds: Double
    public let int8Seconds: Double
  }

  public static func calibrate(
    model: String, clip: String, frames: Int, window: Int, threads: Int, quantile: Double,
    progress: (String) -> Void = { _ in }
  ) throws -> Result {
    guard clip != "-" else {
      throw PipelineError("calibration reads the clip twice (fp32, then int8): give a file, not standard input")
    }
    if let reason = Int8Policy.unavailableReason { throw PipelineError(reason) }
    let sha: String
    do { sha = try SHA256.hexDigest(ofFileAt: model) } catch { throw PipelineError(error.description) }
    let stateDict: StateDict
    let config: ZSMConfig
    do { (stateDict, config) = try StateDict.loadZSM(path: model) } catch { throw PipelineError(error.description) }

    func network(_ precision: Precision, _ table: CalibrationTable?) throws -> ZSMNetwork {
      do {
        return try ZSMNetwork(
          stateDict: stateDict, config: config, threads: threads, precision: precision, calibration: table)
      } catch { throw PipelineError("\(model): \(error.description)") }
    }

    let fp32 = try network(.fp32, nil)
    let recorder = fp32.recordActivations()
    progress(
      "fp32 pass over \(frames) frames, recording the inputs of \(recorder.tensorNames.count) int8 candidate layers")
    let reference = try upscaleLuma(network: fp32, clip: clip, frames: frames, window: window)
    fp32.stopRecording()
    for (name, h) in zip(recorder.tensorNames, recorder.histograms) where h.nonFiniteCount > 0 {
      throw PipelineError(
        "\(name) had \(h.nonFiniteCount) non-finite values on this clip: the fp32 network itself overflows;"
          + " no int8 table can be made from it")
    }
    let method =
      quantile >= 1
      ? "min/max of each tensor, asymmetric u8"
      : "percentile \(quantile * 100) of each side of a log-binned histogram (32 bins per octave), asymmetric u8"
    var table = CalibrationTable(
      modelSHA256: sha, method: method, clip: (clip as NSString).lastPathComponent, frames: reference.framesRead,
      windows: reference.windows, entries: recorder.entries(quantile: quantile), psnrY: [])

    progress("int8 pass over the same frames")
    let int8 = try network(.int8, table)
    let quantised = try upscaleLuma(network: int8, clip: clip, frames: frames, window: window)
    guard quantised.luma.count == reference.luma.count else {
      throw PipelineError("the clip changed between the two passes")
    }
    table.psnrY = zip(quantised.luma, reference.luma).map { a, b in
      Quality.psnr(a.map { Double($0) }, b.map { Double($0) })
    }
    return Result(table: table, fp32Seconds: reference.seconds, int8Seconds: quantised.seconds)
  }

  struct LumaRun {
    var luma: [[UInt8]] = []
    var framesRead = 0
    var windows = 0
    var seconds = 0.0
  }

  /// Upscales the first `frames` frames; returns the Y plane of every output frame.
  static func upscaleLuma(network: ZSMNetwork, clip: String, frames: Int, window: Int) throws -> LumaRun {
    let reader: Y4MReader
    do { reader = try Y4MReader(path: clip) } catch { throw PipelineError(error.description) }
    let h = reader.header
    var outHeader = h
    outHeader.width = 4 * h.width
    outHeader.height = 4 * h.height
    outHeader.interlacing = "p"
    let upscaler = try ClipUpscaler(
      network: network, windowSize: window, width: h.width, height: h.height,
      decode: h.height >= 720 ? .bt709 : .bt601, encode: outHeader.height >= 720 ? .bt709 : .bt601)
    var run = LumaRun()
    var read = 0
    let lumaBytes = outHeader.width * outHeader.height
    let summary = try upscaler.run(
      reader: reader, outputFrameBytes: outHeader.frameByteCount, encodeHeader: outHeader,
      write: { frame in run.luma.append(Array(frame[0..<lumaBytes])) },
      shouldStop: {
        read += 1
        return read >= frames
      })
    run.framesRead = summary.framesRead
    run.windows = summary.windows
    run.seconds = summary.networkSeconds
    return run
  }
}
