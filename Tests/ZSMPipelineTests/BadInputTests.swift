import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The reproducers of `Tests/Fixtures/bad-inputs` (found by fuzzing and fault injection), run
/// through the real binary: each must end with a clear error and a non-zero status (or work),
/// never a signal, a hang or lost data.
final class BadInputTests: XCTestCase {
  var directory: URL!
  let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
  var model: String { fixtures.appendingPathComponent("tiny_16x12_n2/model.pth").path }
  func bad(_ name: String) -> String { fixtures.appendingPathComponent("bad-inputs/\(name)").path }
  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
  var zsm: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zsm").path
  }

  override func setUpWithError() throws {
    directory = URL(fileURLWithPath: "/tmp/zsm-bad-\(getpid())-\(Int.random(in: 0..<1_000_000))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

  struct Result {
    let status: Int32
    let signaled: Bool
    let stderr: String
  }

  /// Runs zsm with `arguments`; a run past `timeout` seconds (a hang detector, far above
  /// what any of these takes) is killed and fails the test.
  func run(
    _ arguments: [String], shell: Bool = false, timeout: Double = 120, whileRunning: ((Process) -> Void)? = nil,
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: shell ? "/bin/bash" : zsm)
    process.arguments = arguments
    process.currentDirectoryURL = directory
    let errPipe = Pipe()
    process.standardError = errPipe
    process.standardOutput = FileHandle.nullDevice
    let done = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in done.signal() }
    try process.run()
    whileRunning?(process)
    if done.wait(timeout: .now() + timeout) == .timedOut {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      XCTFail("zsm \(arguments.joined(separator: " ")) still running after \(timeout) s", file: file, line: line)
    }
    let text = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return Result(
      status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal, stderr: text)
  }

  /// Ends with a non-zero status (not a signal) and a message containing `expected`.
  func expectError(
    _ arguments: [String], _ expected: String, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let r = try run(arguments, file: file, line: line)
    XCTAssertFalse(r.signaled, "killed by signal \(r.status): \(r.stderr)", file: file, line: line)
    XCTAssertNotEqual(r.status, 0, r.stderr, file: file, line: line)
    XCTAssertTrue(r.stderr.contains(expected), "expected '\(expected)' in: \(r.stderr)", file: file, line: line)
  }

  func upscale(_ input: String, _ output: String, _ extra: [String] = []) -> [String] {
    ["upscale", "--model", model, "-i", input, "-o", output, "--threads", "1"] + extra
  }

  // MARK: - Overflow (C1-C4), allocation (C5), slow plan (H1)

  func testFrameRateOverflowIsAnError() throws {
    try expectError(upscale(bad("frame_rate_overflow.y4m"), path("o.y4m")), "frame rate 'F4611686018427387904:1'")
  }

  func testHugeWindowIsAnError() throws {
    try expectError(
      upscale(bad("clip.y4m"), path("o.y4m"), ["--window", "4611686018427387904"]), "--window must be 2...1024")
    try expectError(upscale(bad("clip.y4m"), path("o.y4m"), ["--window", "1000000"]), "--window must be 2...1024")
  }

  func testHugeFrameRangeIsAnError() throws {
    try expectError(
      upscale(bad("clip.y4m"), path("o.y4m"), ["--frames", "4611686018427387904:"]), "--frames must be A:B")
  }

  func testInspectHugeWindowOrFrameIsAnError() throws {
    for frames in ["4611686018427387904", "9223372036854775807"] {
      try expectError(["inspect", model, "--size", "16x12", "--frames", frames], "--frames must be 2...1024")
    }
    try expectError(["inspect", model, "--size", "16384x16384"], "must be at most 4096")
  }

  func testInspectOfALongWindowPlans() throws {
    let r = try run(["inspect", model, "--size", "16x12", "--frames", "1000"])
    XCTAssertEqual(r.status, 0, r.stderr)
  }

  func testHugeFrameIsAnErrorNotAnAbort() throws {
    try expectError(upscale(bad("huge_frame_alloc.y4m"), path("o.y4m")), "must be at most 4096")
  }

  func testArenaOverTheMemoryCapIsAnError() throws {
    try expectError(upscale(bad("clip.y4m"), path("o.y4m"), ["--max-memory", "1"]), "the memory limit is 1.0 MB")
  }

  // MARK: - Outputs

  func testOutputOverInputIsRefused() throws {
    let input = path("in.y4m")
    try FileManager.default.copyItem(atPath: bad("clip.y4m"), toPath: input)
    let original = try Data(contentsOf: URL(fileURLWithPath: input))
    try expectError(upscale(input, input), "is the input file")
    XCTAssertEqual(link(input, path("hard.y4m")), 0)
    try expectError(upscale(input, path("hard.y4m")), "is the input file")
    XCTAssertEqual(symlink(input, path("soft.y4m")), 0)
    try expectError(upscale(input, path("soft.y4m")), "is the input file")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: input)), original, "the input is untouched")
  }

  func testFailedRunKeepsThePreviousOutput() throws {
    let output = path("out.y4m")
    let previous = Data("previous good output\n".utf8)
    try previous.write(to: URL(fileURLWithPath: output))
    try expectError(upscale(bad("badframe2.y4m"), output), "frame 2")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), previous)
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(atPath: directory.path), ["out.y4m"], "no temporary left")
  }

  func testInterruptedRunKeepsThePreviousOutput() throws {
    let output = path("out.y4m")
    let previous = Data("previous good output\n".utf8)
    try previous.write(to: URL(fileURLWithPath: output))
    let fifo = path("in.fifo")
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    let clip = try Data(contentsOf: URL(fileURLWithPath: bad("clip.y4m")))
    let r = try run(upscale(fifo, output), timeout: 60) { process in
      // Feed half the clip, then interrupt while zsm waits for the rest.
      let writer = FileHandle(forWritingAtPath: fifo)!
      writer.write(clip.prefix(clip.count / 2))
      Thread.sleep(forTimeInterval: 2)
      kill(process.processIdentifier, SIGTERM)
      Thread.sleep(forTimeInterval: 0.5)
      try? writer.close()
    }
    XCTAssertNotEqual(r.status, 0)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), previous)
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), ["in.fifo", "out.y4m"],
      "no partial output left")
  }

  func testSuccessfulRunReplacesTheOutputAtomically() throws {
    let output = path("out.y4m")
    try Data("old".utf8).write(to: URL(fileURLWithPath: output))
    let r = try run(upscale(bad("clip.y4m"), output))
    XCTAssertEqual(r.status, 0, r.stderr)
    let data = try Data(contentsOf: URL(fileURLWithPath: output))
    XCTAssertTrue(data.starts(with: Data("YUV4MPEG2 W128 H96".utf8)))
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["out.y4m"])
  }

  func testDeviceOutputIsWrittenInPlace() throws {
    let node = path("null")
    // A private node (root can make a character device; otherwise a FIFO, also not a file).
    var drain: Process?
    if mknod(node, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) != 0 {
      XCTAssertEqual(mkfifo(node, 0o666), 0)
      let cat = Process()
      cat.executableURL = URL(fileURLWithPath: "/bin/cat")
      cat.arguments = [node]
      cat.standardOutput = FileHandle.nullDevice
      try cat.run()
      drain = cat
    }
    let r = try run(upscale(bad("clip.y4m"), node))
    drain?.waitUntilExit()
    XCTAssertEqual(r.status, 0, r.stderr)
    var info = stat()
    XCTAssertEqual(lstat(node, &info), 0)
    XCTAssertNotEqual(info.st_mode & S_IFMT, S_IFREG, "still a device node, not renamed over")
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["null"])
  }

  func testTruncatedInputWritesTheLastPartialWindow() throws {
    // 5 whole frames of 32x24 and part of a 6th, to standard output (written in place).
    let clip = try Data(contentsOf: URL(fileURLWithPath: bad("clip.y4m")))
    let headerEnd = clip.firstIndex(of: 0x0A)! + 1
    let frameBytes = 6 + 32 * 24 * 3 / 2
    let input = path("short.y4m")
    try clip.prefix(headerEnd + 5 * frameBytes + 100).write(to: URL(fileURLWithPath: input))
    let output = path("out.y4m")
    let r = try run(
      ["-c", "'\(zsm)' upscale --model '\(model)' -i '\(input)' -o - --window 4 --threads 1 > '\(output)'"], shell: true
    )
    XCTAssertNotEqual(r.status, 0)
    XCTAssertTrue(r.stderr.contains("stream ends inside frame 5"), r.stderr)
    let out = try Data(contentsOf: URL(fileURLWithPath: output))
    let outFrame = 6 + 128 * 96 * 3 / 2
    let outHeader = out.firstIndex(of: 0x0A)! + 1
    XCTAssertEqual((out.count - outHeader) / outFrame, 9, "2 x 5 - 1 outputs of the 5 whole frames")
    XCTAssertEqual((out.count - outHeader) % outFrame, 0)
  }

  // MARK: - Weights, terminal, minor parsing

  func testNaNWeightsAreRefusedNamingTheTensor() throws {
    try expectError(
      upscale(bad("clip.y4m"), path("o.y4m"), []).replacingModel(with: bad("nan_weights.pth")), "holds NaN")
  }

  func testErrorMessagesEscapeControlBytes() throws {
    let r = try run(upscale(bad("esc_in_error.y4m"), path("o.y4m")))
    XCTAssertNotEqual(r.status, 0)
    XCTAssertFalse(r.stderr.contains("\u{1b}"), "raw escape byte in: \(r.stderr.debugDescription)")
    XCTAssertTrue(r.stderr.contains("\\x1b[2J"), r.stderr.debugDescription)
  }

  func testOutputSizesTheWriterRejectsAreRefused() throws {
    let input = path("wide.y4m")
    var bytes = Array("YUV4MPEG2 W4097 H2 F25:1 Ip A1:1 Cmono\nFRAME\n".utf8)
    bytes += [UInt8](repeating: 128, count: 4097 * 2)
    try Data(bytes).write(to: URL(fileURLWithPath: input))
    try expectError(upscale(input, path("o.y4m")), "must be at most 4096")
  }

  func testThreadsAreCappedByTheCPUs() throws {
    let r = try run(["upscale", "--model", model, "-i", bad("clip.y4m"), "-o", path("o.y4m"), "--threads", "256"])
    XCTAssertEqual(r.status, 0, r.stderr)
    if ProcessInfo.processInfo.activeProcessorCount < 256 {
      XCTAssertTrue(r.stderr.contains("CPUs are available"), r.stderr)
    }
  }
}

extension Array where Element == String {
  /// The arguments with the value of `--model` replaced.
  func replacingModel(with path: String) -> [String] {
    var a = self
    if let i = a.firstIndex(of: "--model") { a[i + 1] = path }
    return a
  }
}
