import XCTest
import ZSMModel

/// Loads the reference fixtures in both containers and checks names, shapes, counts and values.
final class CheckpointLoadTests: XCTestCase {
  private func load(_ directory: String, _ file: String) throws -> StateDict {
    try StateDict.load(path: TestPaths.fixture(directory, file))
  }

  func testTinyFixtureLoadsIdenticallyFromBothContainers() throws {
    let zip = try load("tiny_16x12_n2", "model.pth")
    let legacy = try load("tiny_16x12_n2", "model_legacy.pth")
    XCTAssertEqual(zip.tensors.count, 248)
    XCTAssertEqual(zip.parameterCount, 216_303)
    XCTAssertEqual(zip, legacy)
  }

  func testSmallFixtureLoadsIdenticallyFromBothContainers() throws {
    let zip = try load("small_32x24_n3", "model.pth")
    let legacy = try load("small_32x24_n3", "model_legacy.pth")
    XCTAssertEqual(zip.tensors.count, 256)
    XCTAssertEqual(zip.parameterCount, 716_763)
    XCTAssertEqual(zip, legacy)
  }

  func testConfigurationIsInferredAndVerifiesStrictly() throws {
    let cases: [(String, ZSMConfig)] = [
      ("tiny_16x12_n2", ZSMConfig(nf: 8, groups: 2, frontRBs: 1, backRBs: 2)),
      ("small_32x24_n3", ZSMConfig(nf: 16, groups: 4, frontRBs: 2, backRBs: 3)),
    ]
    for (directory, expected) in cases {
      for file in ["model.pth", "model_legacy.pth"] {
        let stateDict = try load(directory, file)
        let config = try ZSMConfig(inferringFrom: stateDict)
        XCTAssertEqual(config, expected, "\(directory)/\(file)")
        XCTAssertNoThrow(try stateDict.verifyStrict(against: config))
        XCTAssertTrue(stateDict.strictVerificationReport(against: config).isClean)
      }
    }
  }

  func testLiteConfigurationIsInferredFromKeysAndShapes() throws {
    let stateDict = try load("lite_24x16_n3", "model.pth")
    let config = try ZSMConfig(inferringFrom: stateDict)
    XCTAssertEqual(config, ZSMConfig(nf: 8, groups: 2, frontRBs: 1, backRBs: 2, tailWidth: 8, globalSkip: true))
    XCTAssertEqual(config.variantName, "ZSM-Lite")
    XCTAssertEqual(stateDict.names.first, ZSMConfig.globalSkipKey)
    XCTAssertNoThrow(try stateDict.verifyStrict(against: config))
    // The same tensors checked against the variant without the skip: the marker is unexpected.
    var plain = config
    plain.globalSkip = false
    let report = stateDict.strictVerificationReport(against: plain)
    XCTAssertEqual(report.unexpected, [ZSMConfig.globalSkipKey])
    // And against upstream's 64-wide tail: the tail's shapes are wrong, by name.
    plain.globalSkip = true
    plain.tailWidth = 64
    let wide = stateDict.strictVerificationReport(against: plain)
    XCTAssertEqual(
      wide.misShaped.map(\.name).sorted(),
      ["HRconv.bias", "HRconv.weight", "conv_last.weight", "upconv2.bias", "upconv2.weight"])
  }

  func testUnknownGlobalSkipKindIsRefused() throws {
    let (stateDict, config) = try StateDict.loadZSM(path: TestPaths.fixture("lite_24x16_n3", "model.pth"))
    var parameters: [String: [Float]] = [:]
    for tensor in stateDict.tensors { parameters[tensor.name] = tensor.data }
    XCTAssertNoThrow(try ZSMNetwork(config: config, parameters: parameters, threads: 1))
    parameters[ZSMConfig.globalSkipKey] = [2]
    XCTAssertThrowsError(try ZSMNetwork(config: config, parameters: parameters, threads: 1)) { error in
      XCTAssertTrue("\(error)".contains("global_skip is 2.0"), "\(error)")
    }
  }

  func testLoadZSMInfersAndVerifies() throws {
    let (stateDict, config) = try StateDict.loadZSM(path: TestPaths.fixture("small_32x24_n3", "model_legacy.pth"))
    XCTAssertEqual(config, ZSMConfig(nf: 16, groups: 4, frontRBs: 2, backRBs: 3))
    XCTAssertEqual(stateDict.tensors.count, 256)
    let path = TestPaths.data("small.pth")
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.loadZSM(path: path) },
      kind: .configurationInference, contains: [path, "no tensor conv_first.weight"])
  }

  /// Tensors that share one storage at different offsets (torch keeps the sharing on save).
  func testTensorsSharingAStorage() throws {
    let expected = StateDict(tensors: [
      .init(name: "a", shape: [3], data: [0, 1, 2]),
      .init(name: "b", shape: [3], data: [3, 4, 5]),
      .init(name: "c", shape: [2, 3], data: [0, 1, 2, 3, 4, 5]),
    ])
    XCTAssertEqual(try StateDict.load(path: TestPaths.data("shared.pth")), expected)
    XCTAssertEqual(try StateDict.load(path: TestPaths.data("shared_legacy.pth")), expected)
  }

  /// Loads a full-size checkpoint (e.g. the released `xiang2020zooming.pth`) named by the
  /// environment variable `ZSM_CHECKPOINT`; skipped when it is not set.
  func testFullSizeCheckpointFromEnvironment() throws {
    guard let path = ProcessInfo.processInfo.environment["ZSM_CHECKPOINT"] else {
      throw XCTSkip("set ZSM_CHECKPOINT to a full-size checkpoint to run this test")
    }
    let start = Date()
    let (stateDict, config) = try StateDict.loadZSM(path: path)
    print("loaded \(path) in \(Date().timeIntervalSince(start)) s: \(config), \(stateDict.parameterCount) parameters")
    XCTAssertEqual(config, .released)
    XCTAssertEqual(stateDict.tensors.count, 416)
    XCTAssertEqual(stateDict.parameterCount, 11_102_771)
  }

  /// The file order is the upstream registration order of docs/architecture.md §9.
  func testNamesAndShapesFollowRegistrationOrder() throws {
    for directory in ["tiny_16x12_n2", "small_32x24_n3"] {
      let stateDict = try load(directory, "model.pth")
      let expected = try ZSMConfig(inferringFrom: stateDict).expectedParameters()
      XCTAssertEqual(stateDict.names, expected.map(\.name), directory)
      XCTAssertEqual(stateDict.tensors.map(\.shape), expected.map(\.shape), directory)
      for tensor in stateDict.tensors { XCTAssertEqual(tensor.data.count, tensor.elementCount, tensor.name) }
    }
  }

  /// First values, bit for bit, as printed once by torch from the same files.
  func testValuesMatchTorch() throws {
    let offsetBias = "ConvBLSTM.forward_net.pcd_c.pcd_align.L1_dcnpack_2.conv_offset_mask.bias"
    let expected: [String: [(String, [UInt32])]] = [
      "tiny_16x12_n2": [
        ("conv_first.weight", [0xbebd_c4b5, 0xbe9a_3d66, 0x3f14_825d]),
        (offsetBias, [0xbf4f_895f, 0x4012_1078, 0x3fbf_513c]),
        ("conv_last.bias", [0xbcda_f3e3, 0xbd11_8528, 0x3cc2_4f50]),
      ],
      "small_32x24_n3": [
        ("conv_first.weight", [0xbe64_91c7, 0x3ddc_85d9, 0x3e7a_8608]),
        (offsetBias, [0x3ead_5806, 0x3f9a_735c, 0xbd6e_6156]),
        ("conv_last.bias", [0xbcf3_7750, 0xbbd6_cb73, 0xbd21_7a18]),
      ],
    ]
    let sums: [String: (recon: Double, all: Double)] = [
      "tiny_16x12_n2": (1.3973946598125622, 32.901164550826394),
      "small_32x24_n3": (-0.3610814696221496, -14.154418924012248),
    ]
    for (directory, rows) in expected {
      for file in ["model.pth", "model_legacy.pth"] {
        let stateDict = try load(directory, file)
        for (name, bits) in rows {
          let tensor = try XCTUnwrap(stateDict[name], name)
          XCTAssertEqual(tensor.data.prefix(3).map(\.bitPattern), bits, "\(directory)/\(file) \(name)")
        }
        let recon = try XCTUnwrap(stateDict["recon_trunk.1.conv2.weight"]).data.reduce(0.0) { $0 + Double($1) }
        let all = stateDict.tensors.reduce(0.0) { sum, tensor in tensor.data.reduce(sum) { $0 + Double($1) } }
        XCTAssertEqual(recon, sums[directory]?.recon ?? .nan, accuracy: 1e-9)
        XCTAssertEqual(all, sums[directory]?.all ?? .nan, accuracy: 1e-7)
      }
    }
  }

  /// Both containers of a small hand-made dict (a plain dict written by Python's zipfile
  /// rewriter has no ZIP64 records, unlike torch's own archives).
  func testSmallPlainDictLoads() throws {
    let expected = StateDict(tensors: [
      .init(name: "a.weight", shape: [2, 3], data: [0, 1, 2, 3, 4, 5]),
      .init(name: "a.bias", shape: [2], data: [0.5, -0.5]),
      .init(name: "b.weight", shape: [4], data: [1, 1, 1, 1]),
    ])
    XCTAssertEqual(try StateDict.load(path: TestPaths.data("small.pth")), expected)
    XCTAssertEqual(try StateDict.load(path: TestPaths.data("small_legacy.pth")), expected)
    let nan = StateDict(tensors: [.init(name: "n", shape: [1], data: [.nan])])
    XCTAssertEqual(nan, nan, "values compare bit for bit")
    XCTAssertNotEqual(expected, StateDict(tensors: expected.tensors.reversed()))
  }
}
