import XCTest
import ZSMModel

/// Parameter lists and counts from `ZSMConfig.expectedParameters()` alone.
final class ZSMConfigTests: XCTestCase {
  private func count(_ list: [(name: String, shape: [Int])]) -> Int {
    list.reduce(0) { $0 + $1.shape.reduce(1, *) }
  }

  func testReleasedConfigurationTotals() {
    let expected = ZSMConfig.released.expectedParameters()
    XCTAssertEqual(ZSMConfig.released, ZSMConfig(nf: 64, groups: 8, frontRBs: 5, backRBs: 40))
    XCTAssertEqual(expected.count, 416)
    XCTAssertEqual(count(expected), 11_102_771)
    XCTAssertEqual(ZSMConfig.released.expectedParameterCount(), 11_102_771)
    XCTAssertEqual(Set(expected.map(\.name)).count, 416, "names are unique")
  }

  /// The per-part counts of docs/architecture.md §9.1–9.4.
  func testReleasedConfigurationPartCounts() {
    let expected = ZSMConfig.released.expectedParameters()
    let beforeLSTM = expected.prefix { !$0.name.hasPrefix("ConvBLSTM.") }
    XCTAssertEqual(beforeLSTM.count, 96)
    let lstm = expected.filter { $0.name.hasPrefix("ConvBLSTM.") }
    XCTAssertEqual(lstm.count, 152)
    XCTAssertEqual(count(lstm), 5_063_392)
    let stateAligner = expected.filter { $0.name.hasPrefix("ConvBLSTM.forward_net.pcd_h.") }
    XCTAssertEqual(stateAligner.count, 74)
    XCTAssertEqual(count(stateAligner), 2_379_984)
    let alignment = expected.filter { $0.name.hasPrefix("pcd_align.") }
    XCTAssertEqual(alignment.count, 64)
    XCTAssertEqual(count(alignment), 2_224_016)
    let trunk = expected.filter { $0.name.hasPrefix("recon_trunk.") }
    XCTAssertEqual(trunk.count, 160)
    XCTAssertEqual(count(trunk), 2_954_240)
    XCTAssertEqual(expected.suffix(8).map(\.name).first, "upconv1.weight")
    XCTAssertEqual(count(Array(expected.suffix(8))), 334_083)
    XCTAssertEqual(
      Array(expected.prefix(2).map(\.name)) + [expected[96].name, expected[98].name],
      [
        "conv_first.weight", "conv_first.bias", "ConvBLSTM.forward_net.cell_list.0.conv.weight",
        "ConvBLSTM.forward_net.pcd_h.fea_L2_conv1.weight",
      ])
  }

  func testTinyConfigurationTotalsAndHardWiredTail() {
    let tiny = ZSMConfig(nf: 8, groups: 2, frontRBs: 1, backRBs: 2)
    let expected = tiny.expectedParameters()
    XCTAssertEqual(expected.count, 248)
    XCTAssertEqual(count(expected), 216_303)
    let shapes = Dictionary(uniqueKeysWithValues: expected.map { ($0.name, $0.shape) })
    XCTAssertEqual(shapes["upconv1.weight"], [32, 8, 3, 3])
    XCTAssertEqual(shapes["upconv2.weight"], [256, 8, 3, 3])
    XCTAssertEqual(shapes["HRconv.weight"], [64, 64, 3, 3])
    XCTAssertEqual(shapes["conv_last.weight"], [3, 64, 3, 3])
    XCTAssertEqual(shapes["pcd_align.L2_dcnpack_2.conv_offset_mask.weight"], [54, 8, 3, 3])
    XCTAssertEqual(shapes["ConvBLSTM.forward_net.cell_list.0.conv.weight"], [32, 16, 3, 3])
  }
}
