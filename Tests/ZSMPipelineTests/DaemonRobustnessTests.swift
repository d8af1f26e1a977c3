import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The daemon's reproducers of `Tests/Fixtures/bad-inputs`, through the real binary.
final class DaemonRobustnessTests: XCTestCase {
  var directory: URL!
  let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
  var model: String { fixtures.appendingPathComponent("tiny_16x12_n2/model.pth").path }
  var clip: String { fixtures.appendingPathComponent("bad-inputs/clip.y4m").path }
  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
  var zsm: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zsm").path
  }

  override func setUpWithError() throws {
    directory = URL(fileURLWithPath: "/tmp/zsm-dbad-\(getpid())-\(Int.random(in: 0..<1_000_000))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

  /// Starts `zsm daemon` on `config`; `during` runs while it does; a daemon still running
  /// after `timeout` seconds (a hang detector) is killed and fails the test.
  func daemon(
    _ config: String, timeout: Double = 60, during: ((Process) -> Void)? = nil, file: StaticString = #filePath,
    line: UInt = #line
  ) throws -> (status: Int32, signaled: Bool, stderr: String) {
    let configPath = path("config.json")
    try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: zsm)
    process.arguments = ["daemon", "--config", configPath]
    process.currentDirectoryURL = directory
    let errPipe = Pipe()
    process.standardError = errPipe
    process.standardOutput = FileHandle.nullDevice
    let done = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in done.signal() }
    try process.run()
    during?(process)
    if done.wait(timeout: .now() + timeout) == .timedOut {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      XCTFail("the daemon still runs after \(timeout) s", file: file, line: line)
    }
    let text = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (process.terminationStatus, process.terminationReason == .uncaughtSignal, text)
  }

  func config(
    source: String? = nil, sink: String = #"{"type": "y4m", "path": "out.y4m"}"#, extra: String = "",
    sourceExtra: String = ""
  ) -> String {
    #"{"model": "\#(model)", "threads": 1, "window": 4, "source": {"type": "y4m", "path": "\#(source ?? clip)"\#(sourceExtra)}, "sink": \#(sink)\#(extra)}"#
  }

  func expectRefused(_ text: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let r = try daemon(text, file: file, line: line)
    XCTAssertFalse(r.signaled, file: file, line: line)
    XCTAssertNotEqual(r.status, 0, file: file, line: line)
    XCTAssertTrue(r.stderr.contains(expected), "expected '\(expected)' in: \(r.stderr)", file: file, line: line)
  }

  func testHugeWindowsAndThreadsAreRefused() throws {
    for name in ["daemon_window_overflow.json", "daemon_window_alloc.json"] {
      let text = try String(contentsOfFile: fixtures.appendingPathComponent("bad-inputs/\(name)").path, encoding: .utf8)
        .replacingOccurrences(of: "Tests/Fixtures/tiny_16x12_n2/model.pth", with: model)
        .replacingOccurrences(of: "\"clip.y4m\"", with: "\"\(clip)\"")
      try expectRefused(text, "window must be 2...1024")
    }
  }

  func testMetricsOverTheSinkIsRefused() throws {
    try expectRefused(config(extra: #", "metrics": "out.y4m""#), "is the sink")
    try expectRefused(config(extra: #", "metrics": "\#(clip)""#), "is the source")
  }

  func testMetricsNeverReplaceADeviceNode() throws {
    let node = path("full")
    // A private node (never /dev/full itself); a FIFO where mknod needs root.
    if mknod(node, S_IFCHR | 0o666, dev_t(1 << 8 | 7)) != 0 { XCTAssertEqual(mkfifo(node, 0o666), 0) }
    try expectRefused(config(extra: #", "metrics": "\#(node)""#), "is not a regular file")
    var info = stat()
    XCTAssertEqual(lstat(node, &info), 0)
    XCTAssertNotEqual(info.st_mode & S_IFMT, S_IFREG, "the node is still there")
  }

  /// A metrics file that cannot be written is reported once with the system's reason (it
  /// said only that it could not be written); the video still runs.
  func testMetricsWriteFailureSaysWhy() throws {
    let metrics = path("no-such-directory/zsm.prom")
    let r = try daemon(config(extra: #", "metrics": "\#(metrics)""#))
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stderr.contains("\(metrics): cannot write metrics: cannot create \(metrics).tmp."), r.stderr)
    XCTAssertTrue(r.stderr.contains("No such file or directory"), r.stderr)
    XCTAssertEqual(r.stderr.components(separatedBy: "cannot write metrics").count, 2, "reported once")
  }

  func testUnknownDuplicateAndMalformedConfigurationsAreRefused() throws {
    try expectRefused(config(extra: #", "windw": 4"#), #"unknown key "windw" (did you mean "window"?)"#)
    try expectRefused(config(extra: #", "thread": 4"#), #"(did you mean "threads"?)"#)
    try expectRefused(
      config().replacingOccurrences(of: #""model""#, with: #""Model""#), #"(did you mean "model"?)"#)
    try expectRefused(config(extra: #", "threads": 2"#), "duplicate key \"threads\"")
    try expectRefused(config(extra: ","), "not valid JSON")
    try expectRefused("\u{FEFF}" + config(), "byte order mark")
    try expectRefused(config(sink: #"{"type": "y4m", "path": "out\u0000.y4m"}"#), "sink.path contains a NUL byte")
  }

  func testFiniteIsABooleanForY4MSources() throws {
    try expectRefused(config(sourceExtra: #", "finte": true"#), #"unknown key "source.finte" (did you mean "finite"?)"#)
    try expectRefused(config(sourceExtra: #", "finite": "yes""#), "wrong type at source.finite")
    let camera = #"{"type": "camera", "device": "/dev/null", "finite": true}"#
    try expectRefused(
      config().replacingOccurrences(of: #"{"type": "y4m", "path": "\#(clip)"}"#, with: camera),
      #""finite" is for y4m sources"#)
  }

  func testSIGTERMEndsAWaitForAFIFOWriter() throws {
    let fifo = path("in.fifo")
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    let r = try daemon(config(source: fifo), timeout: 30) { process in
      Thread.sleep(forTimeInterval: 2)
      kill(process.processIdentifier, SIGTERM)
    }
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertFalse(r.signaled)
  }

  func testSIGHUPKeepsTheSinksFrames() throws {
    // A FIFO source: half the clip, SIGHUP, the rest; every frame read must be in the sink.
    let fifo = path("in.fifo")
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    let data = try Data(contentsOf: URL(fileURLWithPath: clip))
    let headerEnd = data.firstIndex(of: 0x0A)! + 1
    let frameBytes = 6 + 32 * 24 * 3 / 2
    let r = try daemon(config(source: fifo), timeout: 60) { process in
      let writer = FileHandle(forWritingAtPath: fifo)!
      writer.write(data.prefix(headerEnd + 3 * frameBytes))
      Thread.sleep(forTimeInterval: 3)
      kill(process.processIdentifier, SIGHUP)
      Thread.sleep(forTimeInterval: 1)
      writer.write(data.dropFirst(headerEnd + 3 * frameBytes))
      try? writer.close()
    }
    // The writer's close ends the FIFO source: a failure exit (for Restart=on-failure), after
    // every frame read was written.
    XCTAssertEqual(r.status, 1, r.stderr)
    XCTAssertTrue(r.stderr.contains("is not a finite source"), r.stderr)
    let out = try Data(contentsOf: URL(fileURLWithPath: path("out.y4m")))
    let outHeader = out.firstIndex(of: 0x0A)! + 1
    let outFrame = 6 + 128 * 96 * 3 / 2
    XCTAssertEqual((out.count - outHeader) % outFrame, 0)
    // 3 frames before the reload give 5 outputs, the 3 after it 5 more: none truncated away.
    XCTAssertEqual((out.count - outHeader) / outFrame, 10, r.stderr)
  }

  /// Runs the daemon on a FIFO with "reopen": true and the metrics in m.prom; each clip is
  /// written by its own writer, and the next waits until the daemon has read it and closed the
  /// FIFO (source down); then SIGTERM while it waits for another writer.
  func daemonWithReopen(clips: [(data: Data, frames: Int)]) throws -> (status: Int32, signaled: Bool, stderr: String) {
    let fifo = path("in.fifo")
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    let text = config(source: fifo, extra: #", "metrics": "m.prom""#)
      .replacingOccurrences(of: #""path": "\#(fifo)""#, with: #""path": "\#(fifo)", "reopen": true"#)
    return try daemon(text, timeout: 60) { process in
      var frames = 0
      for clip in clips {
        let writer = FileHandle(forWritingAtPath: fifo)!  // blocks until the daemon opens it
        writer.write(clip.data)
        try? writer.close()
        frames += clip.frames
        let deadline = Date().addingTimeInterval(30)
        var text = ""
        while !(text.contains("zsm_frames_in_total \(frames)\n") && text.contains("zsm_source_up 0\n")) {
          guard Date() < deadline else { return XCTFail("no \(frames) frames in with the source down: \(text)") }
          usleep(50_000)
          text = (try? String(contentsOfFile: self.path("m.prom"), encoding: .utf8)) ?? ""
        }
      }
      kill(process.processIdentifier, SIGTERM)
    }
  }

  func outputFrames() throws -> Int {
    let out = try Data(contentsOf: URL(fileURLWithPath: path("out.y4m")))
    let outHeader = out.firstIndex(of: 0x0A)! + 1
    let outFrame = 6 + 128 * 96 * 3 / 2
    XCTAssertEqual((out.count - outHeader) % outFrame, 0)
    return (out.count - outHeader) / outFrame
  }

  func testReopenWaitsForTheFIFOsNextWriter() throws {
    // A source whose writer goes away and comes back; without "reopen" the daemon ends with
    // the first writer (exit 0 with only the first clip, which fails the count below).
    let data = try Data(contentsOf: URL(fileURLWithPath: clip))
    let r = try daemonWithReopen(clips: [(data, 6), (data, 6)])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertFalse(r.signaled)
    XCTAssertTrue(r.stderr.contains("source reopened"), r.stderr)
    // Two clips of 6 frames, 2 x 6 - 1 outputs each, in one sink.
    XCTAssertEqual(try outputFrames(), 22, r.stderr)
    let metrics = try String(contentsOfFile: path("m.prom"), encoding: .utf8)
    XCTAssertTrue(metrics.contains("zsm_frames_out_total 22\n"), metrics)
  }

  func testAClipOfOneFrameIsCountedAsDroppedNotFatal() throws {
    // A writer that sends one frame and goes away: that clip has no output (it needs two
    // frames). The daemon counts the frame as dropped and goes on (it used to exit 1 with
    // "at least 2 are needed", ending the service).
    let data = try Data(contentsOf: URL(fileURLWithPath: clip))
    let headerEnd = data.firstIndex(of: 0x0A)! + 1
    let oneFrame = data.prefix(headerEnd + 6 + 32 * 24 * 3 / 2)
    let r = try daemonWithReopen(clips: [(data, 6), (oneFrame, 1), (data, 6)])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stderr.contains("dropped 1 frame"), r.stderr)
    XCTAssertEqual(try outputFrames(), 22, r.stderr)
    let metrics = try String(contentsOfFile: path("m.prom"), encoding: .utf8)
    for line in ["zsm_frames_in_total 13\n", "zsm_frames_out_total 22\n", "zsm_frames_dropped_total 1\n"] {
      XCTAssertTrue(metrics.contains(line), "\(line) in \(metrics)")
    }
  }

  func testReopenOfStandardInputIsRefused() throws {
    try expectRefused(
      config(source: "-").replacingOccurrences(of: #""path": "-""#, with: #""path": "-", "reopen": true"#),
      "source.reopen needs a file or FIFO path")
  }
}
