import Foundation
import XCTest
import ZSMModel

/// Reading the fixtures' `.bin` files, writing them back byte for byte, and the error cases.
final class TensorFileTests: XCTestCase {
  private let tensors = ["input", "feat_L1", "feat_L2", "feat_L3", "lstm_in", "lstm_out", "output"]

  private func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

  /// A `.bin` file with a hand-written header (padded to 16; `OFFSET` in it becomes the data
  /// offset) and payload.
  private func file(header template: String, payload: [UInt8] = []) -> [UInt8] {
    var offset = 0
    var header: [UInt8] = []
    repeat {
      header = Array(template.replacingOccurrences(of: "OFFSET", with: "\(offset)").utf8)
      let next = (12 + header.count + 15) / 16 * 16
      if next == offset { break }
      offset = next
    } while true
    header += [UInt8](repeating: 0x20, count: offset - 12 - header.count)
    let length = UInt32(header.count)
    return Array("ZSMRAW01".utf8) + withUnsafeBytes(of: length.littleEndian) { Array($0) } + header + payload
  }

  private func assertError(
    _ bytes: [UInt8], _ kind: TensorFileError.Kind, _ part: String, line: UInt = #line
  ) {
    do throws(TensorFileError) {
      _ = try TensorFile.decode(bytes)
      XCTFail("expected \(kind) containing \"\(part)\"", line: line)
    } catch {
      XCTAssertEqual(error.kind, kind, "\(error)", line: line)
      XCTAssertTrue(error.description.contains(part), "\"\(error)\" lacks \"\(part)\"", line: line)
    }
  }

  func testFixturesReadWithManifestShapesAndStatistics() throws {
    for directory in ["tiny_16x12_n2", "small_32x24_n3"] {
      let manifestData = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture(directory, "manifest.json")))
      let manifest = try XCTUnwrap(try JSONSerialization.jsonObject(with: manifestData) as? [String: Any])
      let entries = try XCTUnwrap(manifest["tensors"] as? [String: [String: Any]])
      for name in tensors {
        let tensor = try TensorFile.read(path: TestPaths.fixture(directory, "\(name).bin"))
        let entry = try XCTUnwrap(entries[name])
        XCTAssertEqual(tensor.name, name)
        XCTAssertEqual(tensor.shape, entry["shape"] as? [Int])
        XCTAssertEqual(tensor.layout, entry["layout"] as? String)
        XCTAssertEqual(tensor.data.count, tensor.shape.reduce(1, *))
        // Foundation's JSON parser on Linux rounds the last digit or two of a double.
        let minimum = try XCTUnwrap(entry["min"] as? Double)
        let maximum = try XCTUnwrap(entry["max"] as? Double)
        XCTAssertEqual(Double(tensor.data.min() ?? .nan), minimum, accuracy: 1e-14, "\(directory)/\(name)")
        XCTAssertEqual(Double(tensor.data.max() ?? .nan), maximum, accuracy: 1e-14, "\(directory)/\(name)")
      }
    }
  }

  /// Re-encoding a fixture gives back the same bytes, so numpy-side readers see the same layout.
  func testEncodingReproducesFixturesByteForByte() throws {
    for directory in ["tiny_16x12_n2", "small_32x24_n3"] {
      for name in tensors {
        let path = TestPaths.fixture(directory, "\(name).bin")
        XCTAssertEqual(try TensorFile.read(path: path).encoded(), try bytes(path), "\(directory)/\(name)")
      }
    }
  }

  func testWriteReadRoundTrip() throws {
    let cases = [
      TensorFile(name: "weights", shape: [2, 3, 4], layout: "C,H,W", data: (0..<24).map { Float($0) * -0.37 }),
      TensorFile(name: "quote\"back\\slash\ttab é ✓", shape: [0, 5], layout: "", data: []),
      TensorFile(name: "scalar", shape: [], layout: "-", data: [.infinity]),
      TensorFile(name: String(repeating: "n", count: 300), shape: [3], layout: "x", data: [1, .nan, -0.0]),
    ]
    for tensor in cases {
      let path = TestPaths.temporary("roundtrip.bin")
      defer { try? FileManager.default.removeItem(atPath: path) }
      try tensor.write(path: path)
      let written = try bytes(path)
      XCTAssertEqual(written.count % 4, 0)
      let headerEnd = 12 + Int(written[8]) + Int(written[9]) << 8
      XCTAssertEqual(headerEnd % 16, 0, "data is 16-aligned")
      let back = try TensorFile.read(path: path)
      XCTAssertEqual(back.name, tensor.name)
      XCTAssertEqual(back.shape, tensor.shape)
      XCTAssertEqual(back.layout, tensor.layout)
      XCTAssertEqual(back.data.map(\.bitPattern), tensor.data.map(\.bitPattern))
    }
  }

  /// Corrupted headers and every truncation give an error or a tensor, never a crash.
  func testCorruptedFilesNeverCrash() throws {
    let input = try bytes(TestPaths.fixture("tiny_16x12_n2", "feat_L3.bin"))
    var generator = SplitMix(seed: 16)
    for _ in 0..<2000 {
      var corrupted = input
      for _ in 0..<Int.random(in: 1...3, using: &generator) {
        corrupted[Int.random(in: 0..<160, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
      }
      _ = try? TensorFile.decode(corrupted)
    }
    for cut in 0..<input.count { XCTAssertThrowsError(try TensorFile.decode(Array(input.prefix(cut)))) }
  }

  func testReadErrors() throws {
    let input = try bytes(TestPaths.fixture("tiny_16x12_n2", "input.bin"))
    assertError([], .truncated, "file has 0 bytes")
    assertError(Array(input.prefix(11)), .truncated, "need 12")
    assertError(Array(input.prefix(100)), .truncated, "header of 148 bytes does not fit")
    assertError(Array(input.prefix(161)), .truncated, "needs 1152 float32 values from byte 160")
    assertError(Array(input.dropLast()), .truncated, "needs 1152 float32 values from byte 160")
    assertError(input + [0, 0, 0, 0], .malformedHeader, "ends at byte 4768 but the file has 4772 bytes")
    var badMagic = input
    badMagic[3] = UInt8(ascii: "X")
    assertError(badMagic, .badMagic, "starts with \"ZSMXAW01\"; expected the magic \"ZSMRAW01\"")
    let half =
      #"{"name":"h","dtype":"float16","endianness":"little","shape":[2],"layout":"","count":2,"data_offset":OFFSET}"#
    assertError(
      file(header: half, payload: [0, 0, 0, 0]), .unsupportedDType, "tensor h has dtype float16; expected float32")
    let mismatch =
      #"{"name":"m","dtype":"float32","endianness":"little","shape":[2,3],"layout":"","count":5,"data_offset":OFFSET}"#
    assertError(file(header: mismatch), .shapeMismatch, "tensor m has shape [2, 3] (6 elements) but count 5")
    assertError(
      file(header: #"{"name":"x","dtype":"float32""#), .malformedHeader, "bad JSON header: expected ',' or '}'")
    assertError(file(header: #"{"name":"x"}"#), .malformedHeader, "header has no key dtype")
    let huge =
      #"{"name":"b","dtype":"float32","endianness":"little","shape":[9223372036854775807],"layout":"","count":9223372036854775807,"data_offset":OFFSET}"#
    assertError(file(header: huge), .truncated, "needs 9223372036854775807 float32 values")
    let escaped =
      #"{"name":"\u00e9\"\n\ud83d\ude00","dtype":"float32","endianness":"little","shape":[1],"count":1,"data_offset":OFFSET}"#
    XCTAssertEqual(try TensorFile.decode(file(header: escaped, payload: [0, 0, 0x80, 0x3F])).name, "é\"\n😀")
    do throws(TensorFileError) {
      _ = try TensorFile(name: "bad", shape: [2, 2], layout: "", data: [1, 2, 3]).encoded()
      XCTFail("expected a shape mismatch")
    } catch {
      XCTAssertEqual(error.kind, .shapeMismatch)
      XCTAssertTrue(error.description.contains("tensor bad has shape [2, 2] but 3 values"), "\(error)")
    }
  }
}
