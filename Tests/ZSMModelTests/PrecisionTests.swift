import Foundation
import XCTest
import ZSMModel
import ZSMRuntime

/// Reduced precision against the fp32 network on the reference fixtures (random weights).
/// Bounds from issue 7: fp16 output >= 50 dB PSNR against fp32 (peak 1), and the fp16 arena
/// at most 60% of the fp32 one.
final class PrecisionTests: XCTestCase {
  struct Run {
    let output: [Float]
    let arenaBytes: Int
  }

  func run(_ fixture: String, _ precision: Precision, threads: Int = 2) throws -> Run {
    let (stateDict, config) = try StateDict.loadZSM(path: TestPaths.fixture(fixture, "model.pth"))
    let network = try ZSMNetwork(stateDict: stateDict, config: config, threads: threads, precision: precision)
    let input = try TensorFile.read(path: TestPaths.fixture(fixture, "input.bin"))
    let (n, h, w) = (input.shape[1], input.shape[3], input.shape[4])
    try network.prepare(frames: n, height: h, width: w)
    var output = [Float](repeating: .nan, count: (2 * n - 1) * 3 * 16 * h * w)
    network.run(input: input.data, output: &output)
    return Run(output: output, arenaBytes: network.arenaBytes)
  }

  func decibels(_ a: [Float], _ b: [Float]) -> Double {
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in psnr(x, reference: y) } }
  }

  /// On aarch64 with fp16 arithmetic (Tests/ARM64/package.sh: a Cortex-A76) this runs the
  /// fp16-arithmetic layers too (FP16ArithmeticTests), under the same bound.
  func testFP16AgainstFP32OnFixtures() throws {
    for fixture in ["tiny_16x12_n2", "small_32x24_n3", "tiny_13x10_n4", "tiny_11x7_n5"] {
      let reference = try run(fixture, .fp32)
      let half = try run(fixture, .fp16)
      XCTAssertFalse(half.output.contains { !$0.isFinite }, fixture)
      let db = decibels(half.output, reference.output)
      let ratio = Double(half.arenaBytes) / Double(reference.arenaBytes)
      print(
        "precision fp16 \(fixture): \(String(format: "%.2f", db)) dB vs fp32, arena \(half.arenaBytes) / \(reference.arenaBytes) bytes = \(String(format: "%.3f", ratio))"
      )
      XCTAssertGreaterThanOrEqual(db, 50, "\(fixture): fp16 output PSNR vs fp32")
    }
  }

  /// A wrong conversion (e.g. fp16 bits read as fp32) would be far below the bound: the PSNR
  /// measure itself must see the difference between fp16-rounded and exact outputs.
  func testPSNRMeasure() {
    let a: [Float] = [0, 0.5, 1, 0.25]
    XCTAssertEqual(decibels(a, a), .infinity)
    let b: [Float] = [0.01, 0.5, 1, 0.25]  // MSE 2.5e-5 -> 46.02 dB
    XCTAssertEqual(decibels(b, a), 10 * log10(1 / 2.5e-5), accuracy: 1e-6)
  }
}

/// Arena sizes of the released configuration at a camera-like size, planned only (zero
/// weights; planning runs nothing). Small fixtures are dominated by fixed-size buffers (the
/// 64-channel 4x tail bands), so the memory bound is checked here.
final class PrecisionArenaTests: XCTestCase {
  func arena(_ precision: Precision) throws -> Int {
    var parameters: [String: [Float]] = [:]
    for (name, shape) in ZSMConfig.released.expectedParameters() {
      parameters[name] = [Float](repeating: 0, count: shape.reduce(1, *))
    }
    let network = try ZSMNetwork(config: .released, parameters: parameters, threads: 2, precision: precision)
    try network.prepare(frames: 4, height: 144, width: 180)
    return network.arenaBytes
  }

  func testFP16ArenaAtMostSixtyPercentOfFP32() throws {
    let full = try arena(.fp32)
    let half = try arena(.fp16)
    let ratio = Double(half) / Double(full)
    print(
      "arena 180x144 N=4 released config: fp32 \(full) bytes, fp16 \(half) bytes, ratio \(String(format: "%.3f", ratio))"
    )
    XCTAssertLessThanOrEqual(ratio, 0.6)
  }
}

/// int8 against fp32 on the fixtures (random weights): calibrated on the fixture's own
/// window, then run quantised. Bound from issue 7: >= 40 dB PSNR against fp32.
/// Tests of the int8 kernels' accuracy run every candidate layer in int8 on every host: on
/// AVX2 builds `Int8Policy.winogradOverInt8` would keep the Winograd-wide ones in fp32. The
/// flag is off for each test and restored after it.
class Int8KernelTestCase: XCTestCase {
  private var savedWinogradOverInt8 = false
  override func setUp() {
    savedWinogradOverInt8 = Int8Policy.winogradOverInt8
    Int8Policy.winogradOverInt8 = false
  }
  override func tearDown() { Int8Policy.winogradOverInt8 = savedWinogradOverInt8 }
}

final class Int8PrecisionTests: Int8KernelTestCase {
  func testInt8AgainstFP32OnFixtures() throws {
    #if ZSM_INT8
      for fixture in ["tiny_16x12_n2", "small_32x24_n3", "tiny_13x10_n4", "tiny_11x7_n5"] {
        let (stateDict, config) = try StateDict.loadZSM(path: TestPaths.fixture(fixture, "model.pth"))
        let input = try TensorFile.read(path: TestPaths.fixture(fixture, "input.bin"))
        let (n, h, w) = (input.shape[1], input.shape[3], input.shape[4])
        let fp32 = try ZSMNetwork(stateDict: stateDict, config: config, threads: 2)
        try fp32.prepare(frames: n, height: h, width: w)
        let recorder = fp32.recordActivations()
        var reference = [Float](repeating: .nan, count: (2 * n - 1) * 3 * 16 * h * w)
        fp32.run(input: input.data, output: &reference)
        fp32.stopRecording()
        XCTAssertFalse(recorder.tensorNames.isEmpty)
        for (quantile, method) in [(0.9999, "percentile 99.99"), (1.0, "min/max")] {
          let table = CalibrationTable(
            modelSHA256: String(repeating: "0", count: 64), runtimeVersion: ZSMVersion.runtime,
            format: ZSMVersion.calibrationFormat, precision: CalibrationTable.int8, method: method, clip: fixture,
            frames: n, windows: 1, entries: recorder.entries(quantile: quantile), psnrY: [])
          let int8 = try ZSMNetwork(
            stateDict: stateDict, config: config, threads: 2, precision: .int8, calibration: table)
          try int8.prepare(frames: n, height: h, width: w)
          var output = [Float](repeating: .nan, count: reference.count)
          int8.run(input: input.data, output: &output)
          let db = output.withUnsafeBufferPointer { o in reference.withUnsafeBufferPointer { psnr(o, reference: $0) } }
          print(
            "precision int8 \(fixture) \(method): \(String(format: "%.2f", db)) dB vs fp32, \(recorder.tensorNames.count) int8 layers"
          )
          if quantile < 1 { XCTAssertGreaterThanOrEqual(db, 40, "\(fixture): int8 output PSNR vs fp32") }
        }
        // Negative control: activation scales 16x too coarse (4 bits fewer) must cost far more
        // than the bound's margin, so the bound measures the int8 path (an fp32 fallback would
        // give infinity either way).
        var wrong = recorder.entries(quantile: 0.9999)
        for i in wrong.indices { wrong[i].scale *= 16 }
        let bad = try ZSMNetwork(
          stateDict: stateDict, config: config, threads: 2, precision: .int8,
          calibration: CalibrationTable(
            modelSHA256: String(repeating: "0", count: 64), method: "wrong", clip: fixture, frames: n, windows: 1,
            entries: wrong, psnrY: []))
        try bad.prepare(frames: n, height: h, width: w)
        var output = [Float](repeating: .nan, count: reference.count)
        bad.run(input: input.data, output: &output)
        let badDB = output.withUnsafeBufferPointer { o in reference.withUnsafeBufferPointer { psnr(o, reference: $0) } }
        print("precision int8 \(fixture) scales x16: \(String(format: "%.2f", badDB)) dB")
        XCTAssertLessThan(badDB, 35, "\(fixture): coarser scales should be visible")
      }
    #else
      throw XCTSkip(Int8RefusalTests.noKernels)
    #endif
  }
}

/// Each candidate group's cost in accuracy, quantised alone, on every fixture (the measurement
/// behind `Int8Policy.groups`; `zsm profile --compare-int8` measures the time). Checks that the
/// override quantises exactly that group (and the output changes), and that the policy's
/// network runs exactly the policy's groups in int8.
final class Int8GroupTests: Int8KernelTestCase {
  /// `Int8Policy.winogradOverInt8` (the AVX2 builds' default): an int8 layer that takes the
  /// Winograd path at its width runs it in fp32, so with every residual block Winograd-wide
  /// (16 -> 16, policy lowered to 16 channels and 1 pixel) an int8 network of that group alone
  /// gives the fp32 network's output bit for bit; without the flag, it differs.
  func testWinogradOverInt8KeepsWinogradLayersInFP32() throws {
    #if ZSM_INT8
      let fixture = "small_32x24_n3"  // nf 16: residual blocks 16 -> 16, stride 1
      let saved = (
        WinogradPolicy.minimumInputChannels, WinogradPolicy.minimumOutputChannels, WinogradPolicy.minimumWidth
      )
      (WinogradPolicy.minimumInputChannels, WinogradPolicy.minimumOutputChannels, WinogradPolicy.minimumWidth) =
        (16, 16, 1)
      defer {
        (WinogradPolicy.minimumInputChannels, WinogradPolicy.minimumOutputChannels, WinogradPolicy.minimumWidth) =
          saved
      }
      let (stateDict, config) = try StateDict.loadZSM(path: TestPaths.fixture(fixture, "model.pth"))
      let input = try TensorFile.read(path: TestPaths.fixture(fixture, "input.bin"))
      let (n, h, w) = (input.shape[1], input.shape[3], input.shape[4])
      let fp32 = try ZSMNetwork(stateDict: stateDict, config: config, threads: 2)
      try fp32.prepare(frames: n, height: h, width: w)
      let recorder = fp32.recordActivations()
      var reference = [Float](repeating: .nan, count: (2 * n - 1) * 3 * 16 * h * w)
      fp32.run(input: input.data, output: &reference)
      fp32.stopRecording()
      let table = CalibrationTable(
        modelSHA256: String(repeating: "0", count: 64), method: "test", clip: fixture, frames: n, windows: 1,
        entries: recorder.entries(quantile: 0.9999), psnrY: [])
      func run(winogradOverInt8: Bool) throws -> [Float] {
        Int8Policy.winogradOverInt8 = winogradOverInt8
        let int8 = try ZSMNetwork(
          stateDict: stateDict, config: config, threads: 2, precision: .int8, calibration: table,
          int8Groups: ["residual_blocks"])
        try int8.prepare(frames: n, height: h, width: w)
        var output = [Float](repeating: .nan, count: reference.count)
        int8.run(input: input.data, output: &output)
        return output
      }
      XCTAssertEqual(try run(winogradOverInt8: true), reference, "Winograd-wide int8 layers should run fp32 Winograd")
      XCTAssertNotEqual(try run(winogradOverInt8: false), reference, "without the flag they run int8")
    #else
      throw XCTSkip(Int8RefusalTests.noKernels)
    #endif
  }

  func testEachCandidateGroupOnFixtures() throws {
    #if ZSM_INT8
      for fixture in ["tiny_16x12_n2", "small_32x24_n3", "tiny_13x10_n4", "tiny_11x7_n5"] {
        let (stateDict, config) = try StateDict.loadZSM(path: TestPaths.fixture(fixture, "model.pth"))
        let input = try TensorFile.read(path: TestPaths.fixture(fixture, "input.bin"))
        let (n, h, w) = (input.shape[1], input.shape[3], input.shape[4])
        let fp32 = try ZSMNetwork(stateDict: stateDict, config: config, threads: 2)
        try fp32.prepare(frames: n, height: h, width: w)
        let recorder = fp32.recordActivations()
        var reference = [Float](repeating: .nan, count: (2 * n - 1) * 3 * 16 * h * w)
        fp32.run(input: input.data, output: &reference)
        fp32.stopRecording()
        XCTAssertEqual(
          Set(recorder.tensorNames.map { Int8Policy.group(of: String($0.dropLast(".input".count))) }),
          Int8Policy.candidateGroups, fixture)
        let table = CalibrationTable(
          modelSHA256: String(repeating: "0", count: 64), method: "test", clip: fixture, frames: n, windows: 1,
          entries: recorder.entries(quantile: 0.9999), psnrY: [])
        func run(_ groups: Set<String>) throws -> (output: [Float], layers: [String]) {
          let int8 = try ZSMNetwork(
            stateDict: stateDict, config: config, threads: 2, precision: .int8, calibration: table, int8Groups: groups)
          try int8.prepare(frames: n, height: h, width: w)
          var output = [Float](repeating: .nan, count: reference.count)
          int8.run(input: input.data, output: &output)
          return (output, int8.int8LayerNames)
        }
        func decibels(_ o: [Float]) -> Double {
          o.withUnsafeBufferPointer { a in reference.withUnsafeBufferPointer { psnr(a, reference: $0) } }
        }
        let policy = try run(Int8Policy.groups)
        XCTAssertEqual(Set(policy.layers.map { Int8Policy.group(of: $0) }), Int8Policy.groups, fixture)
        var line = "int8 groups \(fixture): policy \(String(format: "%.2f", decibels(policy.output))) dB"
        for group in Int8Policy.candidateGroups.sorted() {
          let r = try run([group])
          XCTAssertEqual(Set(r.layers.map { Int8Policy.group(of: $0) }), [group], fixture)
          XCTAssertNotEqual(r.output, reference, "\(fixture): quantising \(group) alone changes nothing")
          line += ", \(group) alone \(String(format: "%.2f", decibels(r.output))) dB"
        }
        print(line)
      }
    #else
      throw XCTSkip(Int8RefusalTests.noKernels)
    #endif
  }

  /// A table made before a group ran in int8 has no entries for its layers: refused, naming
  /// the group and the command (no silent fp32 fallback).
  func testTableWithoutTheNewEntriesIsRefused() throws {
    #if ZSM_INT8
      let fixture = "tiny_16x12_n2"
      let (stateDict, config) = try StateDict.loadZSM(path: TestPaths.fixture(fixture, "model.pth"))
      let fp32 = try ZSMNetwork(stateDict: stateDict, config: config, threads: 1)
      let entries = fp32.int8TensorNames.filter {
        Int8Policy.group(of: String($0.dropLast(".input".count))) != "lstm_gates"
      }.map { CalibrationTable.Entry(tensor: $0, scale: 1.0 / 64, zeroPoint: 128, min: -2, max: 2) }
      let table = CalibrationTable(
        modelSHA256: String(repeating: "0", count: 64), method: "test", clip: fixture, frames: 2, windows: 1,
        entries: entries, psnrY: [])
      XCTAssertThrowsError(
        try ZSMNetwork(
          stateDict: stateDict, config: config, threads: 1, precision: .int8, calibration: table,
          int8Groups: Int8Policy.groups.union(["lstm_gates"]))
      ) { error in
        let text = "\(error)"
        XCTAssertTrue(text.contains("cell_list.0.conv.input"), text)
        XCTAssertTrue(text.contains("lstm_gates"), text)
        XCTAssertTrue(text.contains("zsm calibrate"), text)
      }
      // Without that group the same table is complete.
      XCTAssertNoThrow(
        try ZSMNetwork(
          stateDict: stateDict, config: config, threads: 1, precision: .int8, calibration: table,
          int8Groups: Int8Policy.groups.subtracting(["lstm_gates"])))
    #else
      throw XCTSkip(Int8RefusalTests.noKernels)
    #endif
  }
}

/// Builds without int8 kernels (no CPU flags: generic x86-64) refuse `--precision int8` with an
/// error that says why, whatever the calibration table.
final class Int8RefusalTests: XCTestCase {
  static let noKernels =
    "skipped: this build has no int8 kernels (x86 needs AVX2 or later; ZSM_INT8 is not defined)"

  func testInt8IsRefusedWithoutKernels() throws {
    guard let reason = Int8Policy.unavailableReason else {
      throw XCTSkip(
        "skipped: this build has int8 kernels (\(Int8Policy.backend ?? "")); the refusal is tested by builds"
          + " without them (generic x86-64)")
    }
    XCTAssertTrue(reason.contains("no int8 kernels"), reason)
    let fixture = "tiny_16x12_n2"
    let (stateDict, config) = try StateDict.loadZSM(path: TestPaths.fixture(fixture, "model.pth"))
    let table = CalibrationTable(
      modelSHA256: String(repeating: "0", count: 64), method: "test", clip: fixture, frames: 2, windows: 1,
      entries: [], psnrY: [])
    XCTAssertThrowsError(
      try ZSMNetwork(stateDict: stateDict, config: config, threads: 1, precision: .int8, calibration: table)
    ) { error in
      XCTAssertTrue("\(error)".contains(reason), "\(error)")
    }
    // fp16 and fp32 are unaffected.
    XCTAssertNoThrow(try ZSMNetwork(stateDict: stateDict, config: config, threads: 1, precision: .fp16))
  }
}

/// The board files state each layer group's precision; the statement must be what the
/// runtime does: a group is "int8" exactly when its convolutions are int8 candidates.
final class BoardPrecisionTests: XCTestCase {
  func testBoardFilesMatchTheInt8Policy() throws {
    var parameters: [String: [Float]] = [:]
    for (name, shape) in ZSMConfig.released.expectedParameters() {
      parameters[name] = [Float](repeating: 0, count: shape.reduce(1, *))
    }
    let network = try ZSMNetwork(config: .released, parameters: parameters, threads: 1)
    let candidates = Set(network.int8TensorNames.map { Int8Policy.group(of: String($0.dropLast(".input".count))) })
    XCTAssertEqual(candidates, Int8Policy.candidateGroups)
    // Int8GroupTests checks that an int8 network runs exactly these groups in int8.
    let int8Groups = Int8Policy.groups
    let boards = TestPaths.testsDirectory.deletingLastPathComponent().appendingPathComponent("Boards")
    let files = try FileManager.default.contentsOfDirectory(atPath: boards.path).filter { $0.hasSuffix(".json") }
    XCTAssertEqual(files.count, 6)
    for file in files {
      let board = try BoardProfile.load(path: boards.appendingPathComponent(file).path)
      let plan = try XCTUnwrap(board.precision, "\(file) states no precision plan")
      let stated = Set(plan.layers.filter { $0.int8 == "int8" }.map(\.group))
      XCTAssertEqual(stated, plan.int8 == "none" ? [] : int8Groups, file)
      // Every aarch64 build has int8 kernels: `sdot` exactly where the board has dot products
      // (its build defines ZSM_DOTPROD), the 16-bit multiply-adds elsewhere.
      if board.arch == "aarch64" {
        XCTAssertEqual(plan.int8, board.features.contains("asimddp") ? "sdot" : "smull", file)
      }
      // fp16: FP16ArithmeticTests.testBoardFilesStateWhatTheNetworkRuns.
    }
  }
}
