import ArgumentParser
import Foundation
import ZSMKernels
import ZSMModel
import ZSMPipeline
import ZSMRuntime
import ZSMVideo

struct Upscale: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Upscale a clip 4x in space and 2x in time (Y4M natively, other video files through ffmpeg).",
    discussion: helpText(
      """
      Reads a Y4M stream (a file, or - for standard input), runs the network on
      windows of --window input frames that overlap by one frame, and writes a Y4M
      stream 4x the size with every input frame and every interpolated frame exactly
      once: L input frames give 2L-1 output frames, the tail included. The output
      frame rate is twice the input's (the same duration) unless --slowmo keeps the
      input's rate (2x slow motion).

      Video files as people have them: an input file that is not Y4M (mp4, mkv, mov,
      webm, ...: anything ffmpeg reads) is decoded by an ffmpeg subprocess, and an
      output named .mp4, .m4v, .mov, .mkv, .avi, .ts, .m2ts, .mts, .flv or .webm is
      encoded by one (default -c:v libx264 -crf 18 -pix_fmt yuv420p, VP9 for .webm;
      --encoder-args replaces them), with the input's audio and metadata. Every
      other output is Y4M. With --slowmo the output has no audio: the picture plays
      at half speed and the sound could not follow it. ffmpeg must be on the PATH
      (Debian/Ubuntu package ffmpeg).
        zsm upscale -i in.mp4 -o out.mp4
        zsm upscale -i in.mkv -o out.mkv \\
          --encoder-args '-c:v libx265 -crf 22 -c:a copy'

      Any frame size up to 4096x4096 works (padded to multiples of 4 internally,
      cropped back). A regular output file is written beside itself and renamed when
      complete (an encoded one when ffmpeg succeeded), so a failed or interrupted
      run leaves the previous file as it was; -o naming the input is refused. Y4M
      does not say which YCbCr matrix it uses: --matrix auto takes BT.709 for frames
      720 lines or taller and BT.601 otherwise, separately for the input and the
      (larger) output, as players do. On a terminal a progress line shows frames,
      fps and the time left (--progress: also in pipes and logs).

      Spreading a long clip over machines: --frames A:B writes the outputs of input
      frames A to B-1 (2A ... 2B-1; the last range runs to the end of the clip).
      Each job reads the whole input up to what its windows need and computes
      exactly the windows a whole run would, so the parts, concatenated in order,
      are byte for byte one whole run. Only the part starting at frame 0 carries the
      stream header (parts are Y4M; encode the joined stream). Deploy/ has a Slurm
      job array and a Kubernetes Indexed Job that do this.
        parallel zsm upscale --model M.pth -i clip.y4m -o part-{#}.y4m \\
          --frames {}:'{=$_+=100=}' ::: 0 100 200 300
        cat part-{1..4}.y4m > upscaled.y4m
      """))

  @Option(help: "Checkpoint (.pth); default: the shipped ZSM-Lite, Models/zsm-lite.pth.")
  var model: String?

  @Option(
    name: [.customShort("i"), .long], help: "Input: a Y4M file or - (standard input), or a video file ffmpeg reads.")
  var input: String

  @Option(
    name: [.customShort("o"), .long],
    help: "Output: Y4M (a file, or - for standard output), or a video file encoded by ffmpeg (.mp4, .mkv, ...).")
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

  @Option(
    name: .customLong("encoder-args"), parsing: .unconditional,
    help: ArgumentHelp(
      "ffmpeg output options for an encoded -o, instead of the default '-c:v libx264 -crf 18 -pix_fmt yuv420p' (WebM: VP9).",
      valueName: "options"))
  var encoderArgs: String?

  @Flag(help: "Progress lines on stderr also when it is not a terminal (one line per window).")
  var progress = false

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
    let decodes = VideoFiles.inputNeedsDecoder(input)
    let encodes = VideoFiles.isEncodedOutput(output)
    if encodes && frames != nil {
      throw CLIError(
        "--frames writes parts of a Y4M stream that join byte for byte; an encoded \(output) cannot be "
          + "cut so: write the parts as .y4m, join them, then encode")
    }
    if encoderArgs != nil && !encodes {
      throw CLIError(
        "--encoder-args applies to encoded outputs ("
          + VideoFiles.encodedContainers.keys.sorted().joined(separator: ", ")
          + "); \(output) is written as Y4M")
    }
    // A missing ffmpeg is reported before the network is loaded.
    do {
      if decodes { _ = try FFmpegTools.require("ffmpeg", for: "reading \(input) (not a Y4M file)") }
      if encodes { _ = try FFmpegTools.require("ffmpeg", for: "writing \(output) (not a Y4M file)") }
    } catch { throw CLIError("\(error)") }
    let workers = Limits.workerThreads(requested: threads)
    if workers < threads { note("using \(workers) threads: \(Limits.availableProcessors()) CPUs are available") }
    let network = try loadNetwork(path: try resolvedModel(model), threads: workers, precision: precision)
    let decoder: FFmpegDecoder?
    let reader: Y4MReader
    do {
      decoder = decodes ? try FFmpegDecoder(input: input) : nil
      reader = try decoder?.reader ?? Y4MReader(path: input)
    } catch { throw CLIError("\(error)") }
    let info = decodes ? VideoFileInfo.probe(input) : nil
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
    if info?.hasAudio == true {
      if !encodes {
        note("the audio of \(input) is not kept: Y4M has no audio (write .mp4 or .mkv to keep it)")
      } else if slowmo {
        note("--slowmo: \(output) has no audio (the picture plays at half speed, the sound could not follow it)")
      }
    }
    let encoder: FFmpegEncoder?
    let writer: Y4MWriter
    do {
      if encodes {
        let audio = decodes && !slowmo ? input : nil
        let arguments = encoderArgs.map(encoderArguments) ?? VideoFiles.defaultEncoderArguments(for: output)
        encoder = try FFmpegEncoder(output: output, header: outHeader, encoderArguments: arguments, audioFrom: audio)
        writer = encoder!.writer
      } else {
        encoder = nil
        writer = try Y4MWriter(path: output, header: outHeader, writesHeader: range.lowerBound == 0)
      }
    } catch {
      decoder?.cancel()
      throw CLIError("\(error)")
    }
    // SIGINT/SIGTERM/SIGHUP while running: the unfinished temporary output is removed.
    removeOnSignal(encoder?.temporary ?? writer.temporary, writtenBy: encoder?.processIdentifier)
    defer { removeOnSignal(nil) }
    let progressLine = ProgressLine(forced: progress)
    let expected = decodes ? info?.frames : expectedFrames(path: input, frameBytes: reader.frameByteCount)
    note(
      "\(network.config); \(h.width)x\(h.height) -> \(outHeader.width)x\(outHeader.height), windows of \(window), \(network.threads) thread(s)"
        + (encodes ? "; ffmpeg encodes \(output)" : "") + (decodes ? "; ffmpeg decodes \(input)" : ""))
    if let plan = upscaler.tilePlan {
      note(tilePlanText(plan, spills: upscaler.spillsOutputs, plannedBytes: upscaler.plannedBytes))
    }
    var summary: UpscaleSummary?
    do {
      summary = try upscaler.run(reader: reader, writer: writer, frames: range) { p in
        progressLine.update(progressText(p, expected: expected))
      }
    } catch {
      progressLine.finish()
      // A failing ffmpeg is the cause of what went wrong here: its own message says why.
      let decodeFailure = decoder?.failureAfterReadError()
      let encodeFailure = encoder?.failureAfterWriteError()
      if encoder == nil { writer.discard() }
      throw CLIError("\(decodeFailure ?? encodeFailure ?? PipelineError("\(error)"))")
    }
    progressLine.finish()
    do {
      try decoder?.finish(readToEnd: range.upperBound == Int.max)
      if let encoder { try encoder.finish() } else { try writer.close() }
    } catch {
      encoder?.discard()
      writer.discard()
      throw CLIError("\(error)")
    }
    removeOnSignal(nil)
    if let s = summary {
      note(
        "done: \(s.framesRead) frames in, \(s.framesWritten) out, \(s.windows) windows, \(fmt(s.seconds, 2)) s "
          + "(\(fmt(s.seconds / Double(max(1, s.framesWritten)), 3)) s per output frame), network "
          + "\(fmt(s.networkSeconds, 2)) s, everything else \(fmt(s.seconds - s.networkSeconds, 2)) s "
          + "(\(fmt(100 * (s.seconds - s.networkSeconds) / max(s.networkSeconds, 1e-9), 1))% of the network's), "
          + "peak memory \(fmt(Double(peakResidentBytes()) / 1e6, 1)) MB")
    }
  }

  /// The progress line: frames read (of how many, when known), written, output frames per
  /// second, and the time left at the rate so far.
  func progressText(_ p: UpscaleProgress, expected: Int?) -> String {
    var line = "\(p.framesRead)\(expected.map { "/\($0)" } ?? "") frames read, \(p.framesWritten) written, "
    if p.tiles > 1 {
      // A tiled window can take hours: say how far into it the run is.
      let left = p.windowSeconds / Double(max(1, p.tilesDone)) * Double(p.tiles - p.tilesDone)
      line += "tile \(p.tilesDone)/\(p.tiles) (\(clockTime(left)) left in this window), "
    }
    line += "\(fmt(Double(p.framesWritten) / max(p.elapsed, 1e-9), 2)) fps"
    if let expected, p.framesRead > 0 {
      let remaining = Double(max(0, expected - p.framesRead)) * p.elapsed / Double(p.framesRead)
      line += ", \(clockTime(remaining)) left"
    }
    return line
  }

  /// `--encoder-args` as ffmpeg arguments (split at white space; no shell quoting).
  func encoderArguments(_ text: String) -> [String] {
    text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
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
/// The process that writes it (ffmpeg encoding), or 0 when this process does.
nonisolated(unsafe) private var signalCleanupWriter: pid_t = 0

/// While `path` is set, SIGINT, SIGTERM and SIGHUP remove it and end the process (status
/// 128 + signal), so an interrupted run leaves no partial output behind; nil restores the
/// default actions. When another process (`writer`, an ffmpeg encoding) writes `path`, it is
/// killed and reaped first, so it cannot create or finish the file after the removal.
func removeOnSignal(_ path: String?, writtenBy writer: Int32? = nil) {
  let old = signalCleanupPath
  signalCleanupPath = path.map { strdup($0) }
  signalCleanupWriter = path == nil ? 0 : writer ?? 0
  for sig in [SIGINT, SIGTERM, SIGHUP] {
    if signalCleanupPath != nil {
      signal(sig) { sig in
        if signalCleanupWriter > 0 {
          kill(signalCleanupWriter, SIGKILL)
          waitpid(signalCleanupWriter, nil, 0)
        }
        if let path = signalCleanupPath { unlink(path) }
        _exit(128 + sig)
      }
    } else {
      signal(sig, SIG_DFL)
    }
  }
  free(old)
}
