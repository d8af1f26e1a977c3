import Foundation
import XCTest
import ZSMModel
import ZSMRuntime

/// The whole network against the PyTorch reference fixtures (Tests/Fixtures, copied from
/// shared/fixtures), stage by stage. Tolerance: max abs error 1e-4 per stage (issue 3). A
/// float32 port that follows the spec lands near 1e-6 (summation order differs from PyTorch's
/// im2col+GEMM); any spec mistake (offset layout, gate order, activation placement) shows up
/// at 1e-2 or more.
final class GoldenTests: XCTestCase {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures")

  func tensor(_ fixture: String, _ name: String) throws -> TensorFile {
    try TensorFile.read(path: Self.fixtures.appendingPathComponent("\(fixture)/\(name).bin").path)
  }

  func maxAbsError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var worst: Float = 0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
    return worst
  }

  func checkFixture(_ fixture: String, checkpoint: String, threads: Int) throws {
    let path = Self.fixtures.appendingPathComponent("\(fixture)/\(checkpoint)").path
    let (stateDict, config) = try StateDict.loadZSM(path: path)
    let network = try ZSMNetwork(stateDict: stateDict, config: config, threads: threads)
    let input = try tensor(fixture, "input")
    let (n, h, w) = (input.shape[1], input.shape[3], input.shape[4])
    try network.prepare(frames: n, height: h, width: w)
    let t = 2 * n - 1
    let c = config.nf
    var featL1 = [Float](repeating: .nan, count: n * c * h * w)
    var featL2 = [Float](repeating: .nan, count: n * c * h * w / 4)
    var featL3 = [Float](repeating: .nan, count: n * c * h * w / 16)
    var lstmIn = [Float](repeating: .nan, count: t * c * h * w)
    var lstmOut = [Float](repeating: .nan, count: t * c * h * w)
    var output = [Float](repeating: .nan, count: t * 3 * 16 * h * w)
    featL1.withUnsafeMutableBufferPointer { l1 in
      featL2.withUnsafeMutableBufferPointer { l2 in
        featL3.withUnsafeMutableBufferPointer { l3 in
          lstmIn.withUnsafeMutableBufferPointer { li in
            lstmOut.withUnsafeMutableBufferPointer { lo in
              var stages = StageOutputs()
              stages.featL1 = l1.baseAddress
              stages.featL2 = l2.baseAddress
              stages.featL3 = l3.baseAddress
              stages.lstmIn = li.baseAddress
              stages.lstmOut = lo.baseAddress
              network.run(input: input.data, output: &output, stages: stages)
            }
          }
        }
      }
    }
    for (name, got) in [
      ("feat_L1", featL1), ("feat_L2", featL2), ("feat_L3", featL3), ("lstm_in", lstmIn), ("lstm_out", lstmOut),
      ("output", output),
    ] {
      let want = try tensor(fixture, name)
      XCTAssertEqual(want.data.count, got.count, "\(fixture) \(name) size")
      let err = maxAbsError(got, want.data)
      XCTAssertLessThanOrEqual(err, 1e-4, "\(fixture)/\(checkpoint) \(name): max abs error \(err)")
      print("golden \(fixture)/\(checkpoint) threads \(threads) \(name): max abs error \(err)")
    }
  }

  /// Fixtures whose size is not a multiple of 4: the reference zero-padded the input at the
  /// bottom and right, ran, and cropped the output (docs/architecture.md §8.2); only input and
  /// output are stored.
  func checkOutputOnly(_ fixture: String, threads: Int) throws {
    let path = Self.fixtures.appendingPathComponent("\(fixture)/model.pth").path
    let (stateDict, config) = try StateDict.loadZSM(path: path)
    let network = try ZSMNetwork(stateDict: stateDict, config: config, threads: threads)
    let input = try tensor(fixture, "input")
    let (n, h, w) = (input.shape[1], input.shape[3], input.shape[4])
    try network.prepare(frames: n, height: h, width: w)
    var output = [Float](repeating: .nan, count: (2 * n - 1) * 3 * 16 * h * w)
    network.run(input: input.data, output: &output)
    let want = try tensor(fixture, "output")
    XCTAssertEqual(want.shape, [1, 2 * n - 1, 3, 4 * h, 4 * w])
    let err = maxAbsError(output, want.data)
    XCTAssertLessThanOrEqual(err, 1e-4, "\(fixture) output: max abs error \(err)")
    print("golden \(fixture) threads \(threads) output: max abs error \(err)")
  }

  /// Every stride-1 3x3 layer with whole vectors of input channels by Winograd F(4,3) (the
  /// default policy leaves this nf 16 fixture's narrow layers direct), at every map size,
  /// fixture sizes not multiples of the tile included: same 1e-4 bound.
  func testSmallWinogradEverywhere() throws {
    let saved = (
      WinogradPolicy.minimumInputChannels, WinogradPolicy.minimumOutputChannels, WinogradPolicy.minimumWidth,
      RuntimeTuning.winograd
    )
    (WinogradPolicy.minimumInputChannels, WinogradPolicy.minimumOutputChannels) = (16, 16)
    WinogradPolicy.minimumWidth = 1
    RuntimeTuning.winograd = true
    defer {
      (
        WinogradPolicy.minimumInputChannels, WinogradPolicy.minimumOutputChannels, WinogradPolicy.minimumWidth,
        RuntimeTuning.winograd
      ) = saved
    }
    try checkFixture("small_32x24_n3", checkpoint: "model.pth", threads: 2)
  }

  func testPaddedSizeFourFrames() throws { try checkOutputOnly("tiny_13x10_n4", threads: 2) }
  func testPaddedSizeFiveFrames() throws { try checkOutputOnly("tiny_11x7_n5", threads: 1) }

  func testTinyZipContainer() throws { try checkFixture("tiny_16x12_n2", checkpoint: "model.pth", threads: 1) }
  func testTinyLegacyContainerTwoThreads() throws {
    try checkFixture("tiny_16x12_n2", checkpoint: "model_legacy.pth", threads: 2)
  }
  func testSmallZipContainerTwoThreads() throws {
    try checkFixture("small_32x24_n3", checkpoint: "model.pth", threads: 2)
  }
  func testSmallLegacyContainer() throws {
    try checkFixture("small_32x24_n3", checkpoint: "model_legacy.pth", threads: 1)
  }

  // ZSM-Lite (global bicubic skip, 8-wide tail; nf 8, groups 2, 1 + 2 blocks), stage by stage.
  // Same 1e-4 bound: the skip adds one bicubic resize whose float32 rounding differs from
  // PyTorch's by ~1e-7.
  func testLiteOneThread() throws { try checkFixture("lite_24x16_n3", checkpoint: "model.pth", threads: 1) }
  func testLiteTwoThreads() throws { try checkFixture("lite_24x16_n3", checkpoint: "model.pth", threads: 2) }
  /// 13x10: the network runs padded to 16x12, the skip is the upscale of the 13x10 frame itself
  /// (the reference's `valid_size`), so its edge-clamped border matches in the cropped output.
  func testLitePaddedSize() throws { try checkOutputOnly("lite_13x10_n3", threads: 2) }
}
