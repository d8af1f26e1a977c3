import XCTest
import ZSMModel

/// Strict verification reports every missing, unexpected and mis-shaped tensor by name.
final class StrictVerificationTests: XCTestCase {
  func testAllProblemsAreReportedTogether() throws {
    let original = try StateDict.load(path: TestPaths.fixture("tiny_16x12_n2", "model.pth"))
    let config = try ZSMConfig(inferringFrom: original)
    var tensors = original.tensors.filter { $0.name != "fusion.bias" && $0.name != "recon_trunk.1.conv2.weight" }
    let index = try XCTUnwrap(tensors.firstIndex { $0.name == "HRconv.bias" })
    tensors[index] = .init(name: "HRconv.bias", shape: [8], data: [Float](repeating: 0, count: 8))
    tensors.append(.init(name: "module.extra.weight", shape: [1], data: [1]))
    let broken = StateDict(tensors: tensors)
    let error = assertCheckpointError(
      { () throws(CheckpointError) in try broken.verifyStrict(against: config) },
      kind: .verification(broken.strictVerificationReport(against: config)),
      contains: [
        "missing 2 tensor(s): fusion.bias, recon_trunk.1.conv2.weight", "unexpected 1 tensor(s): module.extra.weight",
        "size mismatch for HRconv.bias: checkpoint has [8], network needs [64]",
      ])
    guard case .verification(let report)? = error?.kind else { return XCTFail("no report") }
    XCTAssertEqual(report.missing, ["fusion.bias", "recon_trunk.1.conv2.weight"])
    XCTAssertEqual(report.unexpected, ["module.extra.weight"])
    XCTAssertEqual(report.misShaped, [.init(name: "HRconv.bias", expected: [64], found: [8])])
    XCTAssertFalse(report.isClean)
  }

  func testWrongConfigurationIsReported() throws {
    let stateDict = try StateDict.load(path: TestPaths.fixture("tiny_16x12_n2", "model.pth"))
    let report = stateDict.strictVerificationReport(against: ZSMConfig(nf: 8, groups: 2, frontRBs: 2, backRBs: 1))
    XCTAssertEqual(
      report.missing,
      [
        "feature_extraction.1.conv1.weight", "feature_extraction.1.conv1.bias",
        "feature_extraction.1.conv2.weight", "feature_extraction.1.conv2.bias",
      ])
    XCTAssertEqual(
      report.unexpected,
      [
        "recon_trunk.1.conv1.weight", "recon_trunk.1.conv1.bias",
        "recon_trunk.1.conv2.weight", "recon_trunk.1.conv2.bias",
      ])
    // Against the released network: 168 tensors missing; all but the 5 width-independent
    // tail tensors (upconv2.bias, HRconv.*, conv_last.*) mis-shaped.
    let released = stateDict.strictVerificationReport(against: .released)
    XCTAssertEqual(released.missing.count, 416 - 248)
    XCTAssertEqual(released.unexpected, [])
    XCTAssertEqual(released.misShaped.count, 243)
  }

  func testInferenceFailuresNameTheTensor() {
    let empty = StateDict(tensors: [])
    assertCheckpointError(
      { () throws(CheckpointError) in try ZSMConfig(inferringFrom: empty) },
      kind: .configurationInference, contains: ["no tensor conv_first.weight"])
    let wrong = StateDict(tensors: [.init(name: "conv_first.weight", shape: [8, 4, 3, 3], data: [])])
    assertCheckpointError(
      { () throws(CheckpointError) in try ZSMConfig(inferringFrom: wrong) },
      kind: .configurationInference, contains: ["conv_first.weight has shape [8, 4, 3, 3]; expected [nf, 3, 3, 3]"])
  }
}
