import ArgumentParser
import Foundation
import ZSMKernels
import ZSMModel
import ZSMPipeline
import ZSMVideo

struct Upscale: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Upscale a Y4M clip 4x in space and 2x in time.",
    discussion: """
      Reads a Y4M stream (a file, or - for standard input), runs the network on windows of
      --window input frames that overlap by one frame, and writes a Y4M stream 4x the size
      with every input frame and every interpolated frame exactly once: L input frames give
      2L-1 output frames, the tail included. The output frame rate is twice the input's (the
      same duration) unless --slowmo keeps the input's rate (2x slow motion).

        ffmpeg -i in.mp4 -f yuv4mpegpipe -pix_fmt yuv420p - | zsm upscale --model M.pth -i - -o out.y4m

      Any frame size works (padded to multiples of 4 internally, cropped back). Y4M does not
      say which YCbCr matrix it uses: --matrix auto takes BT.709 for frames 720 lines or
      taller and BT.601 otherwise, separately for the input and the (larger) output, as
      players do.

      Spreading a long clip over machines: --frames A:B writes the outputs of input frames
      A to B-1 (2A ... 2B-1; the last range runs to the end of the clip). Each job reads the
      whole input up to what its windows need and computes exactly the windows a whole run
      would, so the parts, concatenated in order, are byte for byte one whole run. Only the
      part starting at frame 0 carries the stream header:
        parallel zsm upscale --model M.pth -i clip.y4m -o part-{#}.y4m --frames {}:{=\\$_+=100=} ::: 0 100 200
        cat part-1.y4m part-2.y4m part-3.y4m > whole.y4m
      """)

  @Option(help: "Checkpoint (.pth).")
  var model: String

  @Option(name: [.customShort("i"), .long], help: "Input Y4M file, or - for standard input.")
  var input: String

  @Option(name: [.customShort("o"), .long], help: "Output Y4M file, or - for standard output.")
  var output: String

  @Option(help: "Input frames per window (the paper evaluates with 4).")
  var window: Int = 4

  @OptionGroup var precision: PrecisionOptions

  @Option(help: "Worker threads.")
  var threads: Int = ProcessInfo.processInfo.activeProcessorCount

  @Flag(help: "Keep the input frame rate (2x slow motion) instead of doubling it.")
  var slowmo = false

  @Option(help: "Input frames A:B to produce the outputs of (A: or :B allowed).")
  var frames: String?

  @Option(help: "YCbCr matrix: auto, bt601 or bt709.")
  var matrix: String = "auto"

  func validate() throws {
    guard window >= 2 else { throw ValidationError("--window must be at least 2") }
    guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be 1...256") }
    guard ["auto", "bt601", "bt709"].contains(matrix) else {
      throw ValidationError("--matrix must be auto, bt601 or bt709, got '\(matrix)'")
    }
    _ = try frameRange()
  }

  func frameRange() throws -> Range<Int> {
    guard let frames else { return 0..<Int.max }
    let parts = frames.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2 else { throw ValidationError("--frames must be A:B, got '\(frames)'") }
    let a = parts[0].isEmpty ? 0 : Int(parts[0])
    let b = parts[1].isEmpty ? Int.max : Int(parts[1])
    guard let a, let b, a >= 0, b > a else {
      throw ValidationError("--frames must be A:B with 0 <= A < B, got '\(frames)'")
    }
    return a..<b
  }

  func matrix(forHeight h: Int) -> YCbCrMatrix {
    switch matrix {
    case "bt601": .bt601
    case "bt709": .bt709
    default: h >= 720 ? .bt709 : .bt601
    }
  }

  func run() throws {
    let range = try frameRange()
    let network = try loadNetwork(path: model, threads: threads, precision: precision)
    let reader: Y4MReader
    do { reader = try Y4MReader(path: input) } catch { throw CLIError(error.description) }
    let h = reader.header
    var outHeader = h
    outHeader.width = 4 * h.width
    outHeader.height = 4 * h.height
    outHeader.interlacing = "p"
    if !slowmo { outHeader.frameRate = (2 * h.frameRate.0, h.frameRate.1) }
    let writer: Y4MWriter
    do {
      writer = try Y4MWriter(path: output, header: outHeader, writesHeader: range.lowerBound == 0)
    } catch { throw CLIError(error.description) }
    let upscaler = ClipUpscaler(
      network: network, windowSize: window, width: h.width, height: h.height,
      decode: matrix(forHeight: h.height), encode: matrix(forHeight: outHeader.height))
    let terminal = isatty(2) != 0
    let expected = expectedFrames(path: input, frameBytes: reader.frameByteCount)
    note(
      "\(network.config); \(h.width)x\(h.height) -> \(outHeader.width)x\(outHeader.height), windows of \(window), \(threads) thread(s)"
    )
    var summary: UpscaleSummary?
    do {
      summary = try upscaler.run(reader: reader, writer: writer, frames: range) { p in
        guard terminal else { return }
        var line = "\r\(p.framesRead) frames read, \(p.framesWritten) written, "
        line += "\(fmt(Double(p.framesWritten) / max(p.elapsed, 1e-9), 2)) output fps"
        if let expected, p.framesRead > 0 {
          let remaining = Double(max(0, expected - p.framesRead)) * p.elapsed / Double(p.framesRead)
          line += ", ETA \(Int(remaining)) s   "
        }
        FileHandleStandardError.write(line)
      }
    } catch {
      if terminal { FileHandleStandardError.write("\n") }
      try? writer.close()
      throw CLIError("\(error)")
    }
    do { try writer.close() } catch { throw CLIError(error.description) }
    if terminal { FileHandleStandardError.write("\n") }
    if let s = summary {
      note(
        "done: \(s.framesRead) frames in, \(s.framesWritten) out, \(s.windows) windows, \(fmt(s.seconds, 2)) s "
          + "(\(fmt(s.seconds / Double(max(1, s.framesWritten)), 3)) s per output frame), network "
          + "\(fmt(s.networkSeconds, 2)) s, everything else \(fmt(s.seconds - s.networkSeconds, 2)) s "
          + "(\(fmt(100 * (s.seconds - s.networkSeconds) / max(s.networkSeconds, 1e-9), 1))% of the network's), "
          + "peak memory \(fmt(Double(peakResidentBytes()) / 1e6, 1)) MB")
    }
  }

  /// Frames of a regular file, estimated from its size (for the ETA); nil for pipes.
  func expectedFrames(path: String, frameBytes: Int) -> Int? {
    guard path != "-", let attributes = try? FileManager.default.attributesOfItem(atPath: path),
      let size = attributes[.size] as? Int
    else { return nil }
    return size / (frameBytes + 6)
  }
}
