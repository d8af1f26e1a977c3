import Foundation
import XCTest
import ZSMModel
import ZSMRuntime

/// `--precision fp16` in fp16 arithmetic (`conv3x3F16Arith`, ARMv8.2 FP16) for the layers
/// `FP16ArithmeticPolicy` allows, fp16 storage for the others.
///
/// Bound: 50 dB PSNR against fp32 (peak 1), the bound of fp16 storage (issue 7), and it holds
/// with the fp16 sums: the kernel sums each kernel row's 3 x Cin products in fp16 (error at most
/// 1.7 u of the row's sum of |w x|, u = 2^-11, Tests/ARM64/selftest.c; a random-sign sum
/// grows as its square root, far less) and adds the rows in fp32, while fp16 storage already
/// rounds every activation and weight by up to 0.5 u: the sums add an error of the same order
/// as the roundings the storage bound already absorbs. The accuracy test measures it where the
/// arithmetic exists (aarch64 with FP16, Tests/ARM64/package.sh runs it as a Cortex-A76).
final class FP16ArithmeticTests: XCTestCase {
  static let packageDirectory = TestPaths.testsDirectory.deletingLastPathComponent()

  func zeroParameters(_ config: ZSMConfig) -> [String: [Float]] {
    var parameters: [String: [Float]] = [:]
    for (name, shape) in config.expectedParameters() {
      parameters[name] = [Float](repeating: 0, count: shape.reduce(1, *))
    }
    return parameters
  }

  /// The released configuration's arithmetic layers (planned only, any CPU): exactly the
  /// policy's groups, none of the layers with an fp32 operand.
  func testArithmeticLayersOfTheReleasedConfiguration() throws {
    let parameters = zeroParameters(.released)
    let half = try ZSMNetwork(config: .released, parameters: parameters, threads: 1, precision: .fp16)
    try half.prepare(frames: 2, height: 16, width: 16)
    let layers = half.fp16ArithmeticLayers
    XCTAssertEqual(Set(layers.map { Int8Policy.group(of: $0) }), FP16ArithmeticPolicy.groups)
    XCTAssertFalse(layers.contains("conv_first"))
    // 5 + 40 residual blocks of 2 convs, 3 pyramids (features, pcd_h, pcd_c) of 4 convs, 3 PCD
    // blocks of 2 directions x (8 offset convs + 2 fea convs + 3 offset/mask convs + 3
    // deformable convs), the gate conv, upconv1, upconv2, HRconv, conv_last.
    XCTAssertEqual(layers.count, 2 * 45 + 3 * 4 + 3 * 2 * 16 + 1 + 4)
    XCTAssertEqual(half.runsFP16Arithmetic, FP16ArithmeticPolicy.available)
    print("fp16 arithmetic: \(layers.count) layers; on this CPU: \(half.runsFP16Arithmetic)")

    let storage = try ZSMNetwork(
      config: .released, parameters: parameters, threads: 1, precision: .fp16, fp16ArithmeticGroups: [])
    try storage.prepare(frames: 2, height: 16, width: 16)
    XCTAssertEqual(storage.fp16ArithmeticLayers, [])
    XCTAssertFalse(storage.runsFP16Arithmetic)
    let full = try ZSMNetwork(config: .released, parameters: parameters, threads: 1)
    try full.prepare(frames: 2, height: 16, width: 16)
    XCTAssertEqual(full.fp16ArithmeticLayers, [])
  }

  /// Boards/*.json state, per layer group, what `--precision fp16` runs: "arithmetic" for the
  /// policy's groups on boards built with ARMv8.2 FP16 (`build.march` with +fp16, the features
  /// fphp and asimdhp), "storage" for every group elsewhere.
  func testBoardFilesStateWhatTheNetworkRuns() throws {
    let half = try ZSMNetwork(
      config: .released, parameters: zeroParameters(.released), threads: 1, precision: .fp16)
    try half.prepare(frames: 2, height: 16, width: 16)
    let arithmetic = Set(half.fp16ArithmeticLayers.map { Int8Policy.group(of: $0) })
    let boards = Self.packageDirectory.appendingPathComponent("Boards")
    let files = try FileManager.default.contentsOfDirectory(atPath: boards.path).filter { $0.hasSuffix(".json") }
    XCTAssertEqual(files.count, 6)
    for file in files {
      let board = try BoardProfile.load(path: boards.appendingPathComponent(file).path)
      let plan = try XCTUnwrap(board.precision, "\(file) states no precision plan")
      let hasFP16 =
        board.arch == "aarch64" && (board.march ?? "").contains("+fp16") && board.features.contains("fphp")
        && board.features.contains("asimdhp")
      XCTAssertEqual(plan.fp16, hasFP16 ? "arithmetic" : "storage", file)
      let stated = Set(plan.layers.filter { $0.fp16 == "arithmetic" }.map(\.group))
      XCTAssertEqual(stated, hasFP16 ? arithmetic : [], file)
      XCTAssertTrue(plan.layers.allSatisfy { ["storage", "arithmetic"].contains($0.fp16) }, file)
    }
  }

  struct Window {
    let stateDict: StateDict
    let config: ZSMConfig
    let input: TensorFile
  }

  func output(_ w: Window, _ precision: Precision, groups: Set<String> = FP16ArithmeticPolicy.groups) throws
    -> (output: [Float], network: ZSMNetwork)
  {
    let network = try ZSMNetwork(
      stateDict: w.stateDict, config: w.config, threads: 2, precision: precision, fp16ArithmeticGroups: groups)
    let (n, h, wd) = (w.input.shape[1], w.input.shape[3], w.input.shape[4])
    try network.prepare(frames: n, height: h, width: wd)
    var out = [Float](repeating: .nan, count: (2 * n - 1) * 3 * 16 * h * wd)
    network.run(input: w.input.data, output: &out)
    return (out, network)
  }

  func dB(_ value: Double) -> String { String(format: "%.2f", value) }

  func decibels(_ a: [Float], _ b: [Float]) -> Double {
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in psnr(x, reference: y) } }
  }

  /// The shipped ZSM-Lite (trained weights, on a fixture's input) and the ZSM-Lite-shaped
  /// fixture (random weights) in fp16 arithmetic against fp32: >= 50 dB (see the class comment).
  /// Also printed: fp16 storage, and each group alone in arithmetic (which layers cost the most).
  /// Measured as a Cortex-A76 (2026-12-08): shipped ZSM-Lite 85.75 dB (storage 90.60),
  /// lite_24x16_n3 60.13 dB (storage 68.45; alone: offset_convs 62.54, fea_convs 65.24,
  /// pyramid 65.80, upsampling 65.88, deformable 66.66, offset_mask 66.86, lstm_gates 67.05,
  /// residual_blocks 67.86): every group keeps the bound with margin, so all of them run in
  /// fp16 arithmetic (before the deformable, offset_mask and upsampling groups joined: 85.83
  /// and 60.75 dB).
  /// The other fixtures (tail width 64: slow under qemu) are PrecisionTests' fp16 test, which
  /// runs the arithmetic too on such a CPU, with the same bound.
  func testFP16ArithmeticAgainstFP32() throws {
    guard FP16ArithmeticPolicy.available else {
      throw XCTSkip(
        "skipped: no fp16 arithmetic here (it needs aarch64 built with ARMv8.2 FP16, e.g. ZSM_BOARD=rpi5, on such"
          + " a CPU; Tests/ARM64/package.sh runs this as a Cortex-A76)")
    }
    let shipped = Self.packageDirectory.appendingPathComponent("Models/zsm-lite.pth").path
    let (liteDict, liteConfig) = try StateDict.loadZSM(path: shipped)
    let liteInput = try TensorFile.read(path: TestPaths.fixture("tiny_16x12_n2", "input.bin"))
    let (fixtureDict, fixtureConfig) = try StateDict.loadZSM(path: TestPaths.fixture("lite_24x16_n3", "model.pth"))
    let fixtureInput = try TensorFile.read(path: TestPaths.fixture("lite_24x16_n3", "input.bin"))
    let windows = [
      ("zsm-lite.pth on tiny_16x12_n2", Window(stateDict: liteDict, config: liteConfig, input: liteInput)),
      ("lite_24x16_n3", Window(stateDict: fixtureDict, config: fixtureConfig, input: fixtureInput)),
    ]
    for (name, window) in windows {
      let reference = try output(window, .fp32).output
      let (arithmetic, network) = try output(window, .fp16)
      let storage = try output(window, .fp16, groups: []).output
      XCTAssertTrue(network.runsFP16Arithmetic, name)
      XCTAssertFalse(arithmetic.contains { !$0.isFinite }, name)
      // The arithmetic path really ran: its sums round differently from fp32 FMAs.
      XCTAssertNotEqual(arithmetic, storage, "\(name): fp16 arithmetic gave the storage path's output")
      let db = decibels(arithmetic, reference)
      let layers = network.fp16ArithmeticLayers.count
      var line = "fp16 arithmetic \(name): \(dB(db)) dB vs fp32 (fp16 storage \(dB(decibels(storage, reference))) dB;"
      line += " \(layers) layers in arithmetic)"
      // Each group alone, on the random-weight fixture only (the shipped model's output is
      // dominated by its bicubic skip: every group alone is within 5 dB of storage there).
      for group in FP16ArithmeticPolicy.groups.sorted() where name == "lite_24x16_n3" {
        let alone = try output(window, .fp16, groups: [group]).output
        line += "; \(group) alone \(dB(decibels(alone, reference)))"
      }
      print(line)
      XCTAssertGreaterThanOrEqual(db, 50, "\(name): fp16 arithmetic output PSNR vs fp32")
    }
  }
}
