import Foundation
import XCTest
import ZSMVideo

#if canImport(Glibc)
  import Glibc
#endif

/// `zsm upscale` on video files as people have them (mp4, mkv with audio), through the real
/// binary and real ffmpeg subprocesses, checked with ffprobe.
final class VideoFileTests: XCTestCase {
  var directory: URL!
  let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
  var model: String { fixtures.appendingPathComponent("tiny_16x12_n2/model.pth").path }
  var zsm: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zsm").path
  }
  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  override func setUpWithError() throws {
    guard FFmpegTestTools.available else { throw XCTSkip("ffmpeg/ffprobe are not installed (.ci/run installs them)") }
    directory = URL(fileURLWithPath: "/tmp/zsm-video-\(getpid())-\(Int.random(in: 0..<1_000_000))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    if let directory { try? FileManager.default.removeItem(at: directory) }
  }

  func upscale(_ input: String, _ output: String, _ extra: [String] = []) -> [String] {
    ["upscale", "--model", model, "-i", input, "-o", output, "--threads", "1", "--window", "3"] + extra
  }

  func files() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()) ?? [] }

  // MARK: - mp4 in, mp4 out

  func testMP4WithAudioKeepsAudioAndDoublesTheRate() throws {
    let input = path("in.mp4")
    try FFmpegTestTools.makeClip(input, frames: 10, size: "24x16", rate: 10, audio: true)
    let r = try runProcess(zsm, upscale(input, path("out.mp4")), in: directory)
    XCTAssertEqual(r.status, 0, r.stderr)
    let video = try FFmpegTestTools.probe(path("out.mp4"), stream: "v:0")
    XCTAssertEqual(video["codec_name"], "h264", "the default encoder")
    XCTAssertEqual(video["width"], "96")
    XCTAssertEqual(video["height"], "64")
    XCTAssertEqual(video["r_frame_rate"], "20/1", "twice the input's 10 fps")
    XCTAssertEqual(video["nb_read_frames"], "19", "2N-1 frames")
    let audioIn = try FFmpegTestTools.probe(input, stream: "a:0")
    let audioOut = try FFmpegTestTools.probe(path("out.mp4"), stream: "a:0")
    XCTAssertEqual(audioOut["codec_type"], "audio")
    let durationIn = try XCTUnwrap(audioIn["duration"].flatMap(Double.init))
    let durationOut = try XCTUnwrap(audioOut["duration"].flatMap(Double.init))
    XCTAssertEqual(durationOut, durationIn, accuracy: 0.05, "the audio keeps its duration")
    XCTAssertEqual(files(), ["in.mp4", "out.mp4"], "no temporary file left")
  }

  /// An interlaced file (woven fields, flagged so) is deinterlaced by the decoding ffmpeg, one
  /// frame per frame; a Y4M that says it is interlaced is refused (ClipUpscalerTests).
  func testInterlacedFileIsDeinterlacedOnDecode() throws {
    let input = path("interlaced.mp4")
    try FFmpegTestTools.run([
      "-f", "lavfi", "-i", "testsrc=size=24x16:rate=20:duration=0.5", "-vf", "interlace", "-c:v", "libx264",
      "-flags", "+ildct+ilme", "-x264-params", "interlaced=1", "-pix_fmt", "yuv420p", input,
    ])
    XCTAssertEqual(try FFmpegTestTools.probe(input, stream: "v:0")["field_order"], "tt", "the input is interlaced")
    let r = try runProcess(zsm, upscale(input, path("out.y4m")), in: directory)
    XCTAssertEqual(r.status, 0, r.stderr)
    let header = try Y4MReader(path: path("out.y4m")).header
    XCTAssertEqual(header.interlacing, "p")
    XCTAssertEqual(header.width, 96)
  }

  func testSlowmoKeepsTheRateAndLeavesTheAudioOut() throws {
    let input = path("in.mp4")
    try FFmpegTestTools.makeClip(input, frames: 10, size: "24x16", rate: 10, audio: true)
    let r = try runProcess(zsm, upscale(input, path("slow.mp4"), ["--slowmo"]), in: directory)
    XCTAssertEqual(r.status, 0, r.stderr)
    let video = try FFmpegTestTools.probe(path("slow.mp4"), stream: "v:0")
    XCTAssertEqual(video["r_frame_rate"], "10/1", "the input's rate: twice as long")
    XCTAssertEqual(video["nb_read_frames"], "19")
    XCTAssertEqual(try FFmpegTestTools.streamCount(path("slow.mp4"), type: "a"), 0, "no audio")
    XCTAssertTrue(r.stderr.contains("--slowmo: \(path("slow.mp4")) has no audio"), r.stderr)
  }

  func testMKVInputToY4MAndEncoderArguments() throws {
    let input = path("in.mkv")
    try FFmpegTestTools.makeClip(input, frames: 7, size: "20x12", rate: 25, audio: true, codec: ["-c:v", "ffv1"])
    // To Y4M: the native writer, 4x the size, twice the rate; the audio cannot go there.
    var r = try runProcess(zsm, upscale(input, path("out.y4m")), in: directory)
    XCTAssertEqual(r.status, 0, r.stderr)
    let data = try Data(contentsOf: URL(fileURLWithPath: path("out.y4m")))
    let header = String(decoding: data.prefix(while: { $0 != 0x0A }), as: UTF8.self)
    XCTAssertTrue(header.hasPrefix("YUV4MPEG2 W80 H48 F50:1 "), header)
    let frameBytes = 80 * 48 * 3 / 2 + 6
    XCTAssertEqual((data.count - header.utf8.count - 1) / frameBytes, 13)
    XCTAssertTrue(r.stderr.contains("the audio of \(input) is not kept"), r.stderr)
    // To mkv with other encoder options, which replace the defaults.
    r = try runProcess(zsm, upscale(input, path("out.mkv"), ["--encoder-args", "-c:v ffv1 -c:a flac"]), in: directory)
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(try FFmpegTestTools.probe(path("out.mkv"), stream: "v:0")["codec_name"], "ffv1")
    XCTAssertEqual(try FFmpegTestTools.probe(path("out.mkv"), stream: "a:0")["codec_name"], "flac")
    XCTAssertEqual(try FFmpegTestTools.probe(path("out.mkv"), stream: "v:0")["nb_read_frames"], "13")
  }

  // MARK: - Failures

  func testMissingFFmpegNamesThePackage() throws {
    let input = path("in.mp4")
    try FFmpegTestTools.makeClip(input, frames: 4, size: "16x12", rate: 10, audio: false)
    let y4m = path("in.y4m")
    try FFmpegTestTools.run([
      "-f", "lavfi", "-i", "testsrc=size=16x12:rate=10", "-frames", "3", "-pix_fmt", "yuv420p", y4m,
    ])
    let noFFmpeg = ["PATH": "/nonexistent"]
    for (arguments, what) in [
      (upscale(input, path("out.y4m")), "reading \(input) (not a Y4M file) needs ffmpeg"),
      (upscale(y4m, path("out.mp4")), "writing \(path("out.mp4")) (not a Y4M file) needs ffmpeg"),
    ] {
      let r = try runProcess(zsm, arguments, in: directory, environment: noFFmpeg)
      XCTAssertFalse(r.signaled)
      XCTAssertNotEqual(r.status, 0)
      XCTAssertTrue(r.stderr.contains(what), r.stderr)
      XCTAssertTrue(r.stderr.contains("sudo apt-get install ffmpeg"), r.stderr)
    }
    XCTAssertEqual(files(), ["in.mp4", "in.y4m"])
  }

  func testFailingFFmpegIsAnErrorWithItsMessageAndKeepsThePreviousOutput() throws {
    let input = path("in.mp4")
    try FFmpegTestTools.makeClip(input, frames: 4, size: "16x12", rate: 10, audio: false)
    let output = path("out.mp4")
    try Data("previous".utf8).write(to: URL(fileURLWithPath: output))
    var r = try runProcess(zsm, upscale(input, output, ["--encoder-args", "-c:v no_such_codec"]), in: directory)
    XCTAssertNotEqual(r.status, 0)
    XCTAssertTrue(r.stderr.contains("ffmpeg encoding \(output) failed"), r.stderr)
    XCTAssertTrue(r.stderr.contains("no_such_codec"), "ffmpeg's own message: \(r.stderr)")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), Data("previous".utf8))
    // An input ffmpeg cannot read.
    let garbage = path("garbage.mp4")
    try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: garbage))
    r = try runProcess(zsm, upscale(garbage, output), in: directory)
    XCTAssertNotEqual(r.status, 0)
    XCTAssertTrue(r.stderr.contains("ffmpeg decoding \(garbage) failed"), r.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), Data("previous".utf8))
    XCTAssertEqual(files(), ["garbage.mp4", "in.mp4", "out.mp4"], "no temporary file left")
  }

  func testRefusals() throws {
    let input = path("in.mp4")
    try FFmpegTestTools.makeClip(input, frames: 4, size: "16x12", rate: 10, audio: false)
    for (arguments, expected) in [
      (upscale(input, input), "is the input file"),
      (upscale(input, path("part.mp4"), ["--frames", "0:2"]), "--frames writes parts of a Y4M stream"),
      (upscale(input, path("out.y4m"), ["--encoder-args", "-c:v ffv1"]), "--encoder-args applies to encoded outputs"),
    ] {
      let r = try runProcess(zsm, arguments, in: directory)
      XCTAssertNotEqual(r.status, 0)
      XCTAssertTrue(r.stderr.contains(expected), "expected '\(expected)' in: \(r.stderr)")
    }
    XCTAssertEqual(files(), ["in.mp4"])
  }

  /// SIGTERM while ffmpeg encodes: its temporary file is gone (ffmpeg killed first, so it
  /// cannot create or finish it afterwards) and the previous output is untouched; both before
  /// the first frame reaches ffmpeg and in the middle of the clip. zsm is started with the
  /// signals blocked, as a parent's mask would leave them (this test process blocks them
  /// itself once a daemon test's SignalWatcher ran): it must unblock them.
  func testInterruptedEncodingKeepsThePreviousOutput() throws {
    let clip = path("clip.y4m")
    try FFmpegTestTools.run(
      ["-f", "lavfi", "-i", "testsrc=size=16x12:rate=10", "-frames", "12", "-pix_fmt", "yuv420p", clip])
    let bytes = try Data(contentsOf: URL(fileURLWithPath: clip))
    let headerBytes = bytes.prefix { $0 != 0x0A }.count + 1
    let frameBytes = 16 * 12 * 3 / 2 + 6
    let output = path("out.mp4")
    let previous = Data("previous".utf8)
    try previous.write(to: URL(fileURLWithPath: output))
    let fifo = path("in.fifo")
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    for fed in [headerBytes, headerBytes + 6 * frameBytes] {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: zsm)
      process.arguments = upscale(fifo, output)
      process.standardError = FileHandle.nullDevice
      let done = DispatchSemaphore(value: 0)
      process.terminationHandler = { _ in done.signal() }
      var blocked = sigset_t()
      var previousMask = sigset_t()
      sigemptyset(&blocked)
      for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&blocked, sig) }
      pthread_sigmask(SIG_BLOCK, &blocked, &previousMask)
      defer { pthread_sigmask(SIG_SETMASK, &previousMask, nil) }
      try process.run()
      pthread_sigmask(SIG_SETMASK, &previousMask, nil)
      let writer = try XCTUnwrap(FileHandle(forWritingAtPath: fifo))
      writer.write(bytes.prefix(fed))
      Thread.sleep(forTimeInterval: 3)
      kill(process.processIdentifier, SIGTERM)
      if done.wait(timeout: .now() + 60) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTFail("fed \(fed) bytes: zsm still running 60 s after SIGTERM")
      }
      try? writer.close()
      XCTAssertEqual(process.terminationStatus, 128 + SIGTERM, "fed \(fed) bytes")
      XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), previous, "fed \(fed) bytes")
      Thread.sleep(forTimeInterval: 1)  // anything still writing would have created its file by now
      XCTAssertEqual(files(), ["clip.y4m", "in.fifo", "out.mp4"], "fed \(fed) bytes: no temporary file left")
    }
  }

  // MARK: - Progress

  func testProgressLinesOnlyWhenAskedOutsideATerminal() throws {
    let input = path("in.mp4")
    try FFmpegTestTools.makeClip(input, frames: 7, size: "16x12", rate: 10, audio: false)
    let quiet = try runProcess(zsm, upscale(input, path("a.y4m")), in: directory)
    XCTAssertEqual(quiet.status, 0, quiet.stderr)
    XCTAssertFalse(quiet.stderr.contains("frames read"), "quiet in a pipe: \(quiet.stderr)")
    let loud = try runProcess(zsm, upscale(input, path("b.y4m"), ["--progress"]), in: directory)
    XCTAssertEqual(loud.status, 0, loud.stderr)
    let lines = loud.stderr.split(separator: "\n").filter { $0.contains("frames read") }
    // Windows of 3 over 7 frames: 3 windows, one line each, with the frame count from ffprobe.
    XCTAssertEqual(lines.count, 3, loud.stderr)
    XCTAssertTrue(lines.last?.hasPrefix("7/7 frames read, 13 written, ") == true, loud.stderr)
    XCTAssertTrue(lines.allSatisfy { $0.contains(" fps, ") && $0.hasSuffix(" left") }, loud.stderr)
    XCTAssertFalse(loud.stderr.contains("\r"), "one line per update outside a terminal")
  }
}

/// ffmpeg and ffprobe for tests: making clips, reading stream properties.
enum FFmpegTestTools {
  static func find(_ tool: String) -> String? {
    ["/usr/bin", "/usr/local/bin", "/bin"].map { "\($0)/\(tool)" }.first {
      FileManager.default.isExecutableFile(atPath: $0)
    }
  }

  static var available: Bool { find("ffmpeg") != nil && find("ffprobe") != nil }

  /// Runs ffmpeg quietly; a failure fails the test.
  static func run(_ arguments: [String]) throws {
    let r = try runProcess(find("ffmpeg")!, ["-nostdin", "-v", "error", "-y"] + arguments)
    guard r.status == 0 else { throw TestError("ffmpeg \(arguments) failed: \(r.stderr)") }
  }

  /// A test pattern clip of `frames` frames, with a 440 Hz tone as long as the video when
  /// `audio`; the container follows the extension.
  static func makeClip(
    _ path: String, frames: Int, size: String, rate: Int, audio: Bool, codec: [String] = ["-c:v", "libx264"]
  ) throws {
    // Both sources end by their duration (-frames:v would end the audio with the video's
    // first packets).
    let seconds = Double(frames) / Double(rate)
    var arguments = ["-f", "lavfi", "-i", "testsrc=size=\(size):rate=\(rate):duration=\(seconds)"]
    if audio { arguments += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=\(seconds)"] }
    arguments += codec + ["-pix_fmt", "yuv420p", path]
    try run(arguments)
  }

  /// `key=value` fields of one stream (`v:0`, `a:0`), frames counted.
  static func probe(_ path: String, stream: String) throws -> [String: String] {
    let r = try runProcess(
      find("ffprobe")!,
      ["-v", "error", "-count_frames", "-select_streams", stream, "-show_streams", "-of", "default=nw=1", path])
    guard r.status == 0 else { throw TestError("ffprobe \(path) failed: \(r.stderr)") }
    var fields: [String: String] = [:]
    for line in r.stdout.split(separator: "\n") {
      let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
      if parts.count == 2 && fields[parts[0]] == nil { fields[parts[0]] = parts[1] }
    }
    return fields
  }

  /// Streams of a type (`v`, `a`) in a file.
  static func streamCount(_ path: String, type: String) throws -> Int {
    let r = try runProcess(
      find("ffprobe")!,
      ["-v", "error", "-select_streams", type, "-show_entries", "stream=index", "-of", "csv=p=0", path])
    return r.stdout.split(separator: "\n").count
  }
}

struct TestError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

struct ProcessResult {
  let status: Int32
  let signaled: Bool
  let stdout: String
  let stderr: String
}

/// Runs `executable` to its end (killed after `timeout` seconds, a hang detector far above what
/// these runs take, which fails the test) and returns its status and output.
func runProcess(
  _ executable: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil,
  timeout: Double = 300, file: StaticString = #filePath, line: UInt = #line
) throws -> ProcessResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  if let directory { process.currentDirectoryURL = directory }
  if let environment {
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  }
  // Outputs go to files: pipes nobody reads while the process runs could fill and stall it.
  let base = NSTemporaryDirectory() + "/zsm-test-\(getpid())-\(Int.random(in: 0..<1_000_000_000))"
  FileManager.default.createFile(atPath: base + ".out", contents: nil)
  FileManager.default.createFile(atPath: base + ".err", contents: nil)
  defer {
    unlink(base + ".out")
    unlink(base + ".err")
  }
  process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
  process.standardError = FileHandle(forWritingAtPath: base + ".err")
  process.standardInput = FileHandle.nullDevice
  let done = DispatchSemaphore(value: 0)
  process.terminationHandler = { _ in done.signal() }
  try process.run()
  if done.wait(timeout: .now() + timeout) == .timedOut {
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    XCTFail(
      "\(executable) \(arguments.joined(separator: " ")) still running after \(timeout) s", file: file, line: line)
  }
  let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
  let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
  return ProcessResult(
    status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal, stdout: out,
    stderr: err)
}
