import ArgumentParser
import Foundation
import ZSMKernels
import ZSMModel
import ZSMPipeline
import ZSMRuntime
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

      Any frame size up to 4096x4096 works (padded to multiples of 4 internally, cropped
      back). A regular output file is written beside itself and renamed when complete, so a
      failed or interrupted run leaves the previous file as it was; -o naming the input is
      refused. Y4M does not
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

  @Option(help: "Checkpoint (.pth); default: the shipped ZSM-Lite, Models/zsm-lite.pth.")
  var model: String?

  @Option(name: [.customShort("i"), .long], help: "Input Y4M file, or - for standard input.")
  var input: String

  @Option(name: [.customShort("o"), .long], help: "Output Y4M file, or - for standard output.")
  var output: String

  @Option(help: "Input frames per window, 2...\(Limits.maximumWindow) (the paper evaluates with 4).")
  var window: Int = 4

  @OptionGroup var precision: PrecisionOptions

  @Option(help: "Worker threads, 1...\(Limits.maximumThreads); at most the CPUs available are started.")
  var threads: Int = ProcessInfo.processInfo.activeProcessorCount

  @Option(
    name: .customLong("max-memory"),
    help: ArgumentHelp(
      "Cap on the arena and frame buffers, in MB (default: 80% of MemAvailable); a frame over it runs in tiles (--tile).",
      valueName: "MB"))
  var maxMemory: Int?

  @Option(
    help: ArgumentHelp(
      "Spatial tiles: auto (only when a frame does not fit under --max-memory), off, or a core size in LR pixels (a multiple of 4).",
      valueName: "auto|off|N"))
  var tile: String = "auto"

  @Option(
    name: .customLong("tile-halo"),
    help: ArgumentHelp(
      "LR pixels each tile sees beyond its core (a multiple of 4; default: the model's, see README).",
      valueName: "N"))
  var tileHalo: Int?

  @Flag(help: "Keep the input frame rate (2x slow motion) instead of doubling it.")
  var slowmo = false

  @Option(help: "Input frames A:B to produce the outputs of (A: or :B allowed; 0 <= A < B <= 10^9).")
  var frames: String?

  @Option(help: "YCbCr matrix: auto, bt601 or bt709.")
  var matrix: String = "auto"

  func validate() throws {
    guard (2...Limits.maximumWindow).contains(window) else {
      throw ValidationError("--window must be 2...\(Limits.maximumWindow), got \(window)")
    }
    guard (1...Limits.maximumThreads).contains(threads) else {
      throw ValidationError("--threads must be 1...\(Limits.maximumThreads), got \(threads)")
    }
    if let maxMemory, !(1...(Int.max >> 20)).contains(maxMemory) {
      throw ValidationError("--max-memory must be a positive number of MB, got \(maxMemory)")
    }
    _ = try tileChoice()
    if let tileHalo, !(0...Limits.maximumFrameDimension).contains(tileHalo) || tileHalo % 4 != 0 {
      throw ValidationError(
        "--tile-halo must be a multiple of 4 in 0...\(Limits.maximumFrameDimension), got \(tileHalo)")
    }
    guard ["auto", "bt601", "bt709"].contains(matrix) else {
      throw ValidationError("--matrix must be auto, bt601 or bt709, got '\(matrix)'")
    }
    _ = try frameRange()
  }

  func tileChoice() throws -> TileChoice {
    switch tile {
    case "auto": return .auto
    case "off": return .off
    default:
      guard let n = Int(tile), (4...Limits.maximumFrameDimension).contains(n), n % 4 == 0 else {
        throw ValidationError(
          "--tile must be auto, off or a multiple of 4 in 4...\(Limits.maximumFrameDimension), got '\(tile)'")
      }
      return .core(n)
    }
  }

  func frameRange() throws -> Range<Int> {
    guard let frames else { return 0..<Int.max }
    let parts = frames.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2 else { throw ValidationError("--frames must be A:B, got '\(frames)'") }
    let a = parts[0].isEmpty ? 0 : Int(parts[0])
    let b = parts[1].isEmpty ? Int.max : Int(parts[1])
    let limit = Limits.maximumFrameIndex
    guard let a, let b, a >= 0, b > a, a < limit, b <= limit || parts[1].isEmpty else {
      throw ValidationError("--frames must be A:B with 0 <= A < B <= \(limit), got '\(frames)'")
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
    if let maxMemory { MemoryLimit.bytes = maxMemory << 20 }
    try refuseOutputOverInput()
    let workers = Limits.workerThreads(requested: threads)
    if workers < threads { note("using \(workers) threads: \(Limits.availableProcessors()) CPUs are available") }
    let network = try loadNetwork(path: try resolvedModel(model), threads: workers, precision: precision)
    let reader: Y4MReader
    do { reader = try Y4MReader(path: input) } catch { throw CLIError(error.description) }
    let h = reader.header
    let outHeader: Y4MHeader
    do { outHeader = try upscaledHeader(of: h, slowmo: slowmo) } catch { throw CLIError("\(input): \(error)") }
    let upscaler: ClipUpscaler
    do {
      upscaler = try ClipUpscaler(
        network: network, windowSize: window, width: h.width, height: h.height,
        decode: matrix(forHeight: h.height), encode: matrix(forHeight: outHeader.height),
        tiling: try tileChoice(), halo: tileHalo)
    } catch { throw CLIError("\(error)") }
    let writer: Y4MWriter
    do {
      writer = try Y4MWriter(path: output, header: outHeader, writesHeader: range.lowerBound == 0)
    } catch { throw CLIError(error.description) }
    // SIGINT/SIGTERM/SIGHUP while running: the unfinished temporary output is removed.
    removeOnSignal(writer.temporary)
    defer { removeOnSignal(nil) }
    let terminal = isatty(2) != 0
    let expected = expectedFrames(path: input, frameBytes: reader.frameByteCount)
    note(
      "\(network.config); \(h.width)x\(h.height) -> \(outHeader.width)x\(outHeader.height), windows of \(window), \(network.threads) thread(s)"
    )
    if let plan = upscaler.tilePlan {
      note(tilePlanText(plan, spills: upscaler.spillsOutputs, plannedBytes: upscaler.plannedBytes))
    }
    var summary: UpscaleSummary?
    do {
      summary = try upscaler.run(reader: reader, writer: writer, frames: range) { p in
        guard terminal else { return }
        var line = "\r\(p.framesRead) frames read, \(p.framesWritten) written, "
        if p.tiles > 1 {
          // A tiled window can take hours: say how far into it the run is.
          let left = p.windowSeconds / Double(max(1, p.tilesDone)) * Double(p.tiles - p.tilesDone)
          line += "tile \(p.tilesDone)/\(p.tiles) (\(Int(left)) s left in this window), "
        }
        line += "\(fmt(Double(p.framesWritten) / max(p.elapsed, 1e-9), 2)) output fps"
        if let expected, p.framesRead > 0 {
          let remaining = Double(max(0, expected - p.framesRead)) * p.elapsed / Double(p.framesRead)
          line += ", ETA \(Int(remaining)) s   "
        }
        FileHandleStandardError.write(line)
      }
    } catch {
      if terminal { FileHandleStandardError.write("\n") }
      writer.discard()
      throw CLIError("\(error)")
    }
    do { try writer.close() } catch { throw CLIError(error.description) }
    removeOnSignal(nil)
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

  /// Refuses an output that is the input: the same path, a link to it, or a hard link (the
  /// same inode), since writing it would destroy what is being read.
  func refuseOutputOverInput() throws {
    guard input != "-", output != "-" else { return }
    var a = stat()
    var b = stat()
    guard stat(input, &a) == 0, stat(output, &b) == 0 else { return }
    if a.st_dev == b.st_dev && a.st_ino == b.st_ino {
      throw CLIError("-o \(output) is the input file \(input); write the output somewhere else")
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

/// The temporary output to remove if a signal ends the run (a C string, for the handler).
nonisolated(unsafe) private var signalCleanupPath: UnsafeMutablePointer<CChar>?

/// While `path` is set, SIGINT, SIGTERM and SIGHUP remove it and end the process (status
/// 128 + signal), so an interrupted run leaves no partial output behind; nil restores the
/// default actions.
func removeOnSignal(_ path: String?) {
  let old = signalCleanupPath
  signalCleanupPath = path.map { strdup($0) }
  for sig in [SIGINT, SIGTERM, SIGHUP] {
    if signalCleanupPath != nil {
      signal(sig) { sig in
        if let path = signalCleanupPath { unlink(path) }
        _exit(128 + sig)
      }
    } else {
      signal(sig, SIG_DFL)
    }
  }
  free(old)
}
