import Foundation
import XCTest
import ZSMModel

/// SHA-256 against the FIPS 180-4 examples, split updates, and `sha256sum`.
final class SHA256Tests: XCTestCase {
  private func hex(_ text: String) -> String { SHA256.hex(SHA256.hash(Array(text.utf8))) }

  func testFIPSVectors() {
    XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    XCTAssertEqual(
      hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    XCTAssertEqual(
      hex(
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
      ),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    XCTAssertEqual(
      SHA256.hex(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))),
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
  }

  /// The million 'a' fed in pieces of 1, 7, 63, 64, 65 and 1000 bytes, cycling.
  func testSplitUpdatesMatchOneShot() {
    let bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
    var hasher = SHA256()
    let sizes = [1, 7, 63, 64, 65, 1000, 0, 129]
    var offset = 0
    var step = 0
    bytes.withUnsafeBytes { all in
      while offset < all.count {
        let n = min(sizes[step % sizes.count], all.count - offset)
        hasher.update(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]))
        offset += n
        step += 1
      }
    }
    XCTAssertEqual(
      SHA256.hex(hasher.finalize()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    // `finalize` starts over.
    hasher.update(Array("abc".utf8))
    XCTAssertEqual(
      SHA256.hex(hasher.finalize()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  /// Lengths around the padding boundaries (55, 56, 63, 64 ... bytes), split at every point,
  /// against `sha256sum`.
  func testPaddingBoundariesAgainstSha256sum() throws {
    let sample = (0..<130).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    for length in [1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 130] {
      let bytes = Array(sample.prefix(length))
      let path = TestPaths.temporary("sha-\(length).bin")
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      defer { try? FileManager.default.removeItem(atPath: path) }
      let expected = try sha256sum(path)
      XCTAssertEqual(SHA256.hex(SHA256.hash(bytes)), expected, "length \(length)")
      XCTAssertEqual(try SHA256.hexDigest(ofFileAt: path), expected, "length \(length)")
      for cut in 0...length {
        var hasher = SHA256()
        bytes.withUnsafeBytes { all in
          hasher.update(UnsafeRawBufferPointer(rebasing: all[0..<cut]))
          hasher.update(UnsafeRawBufferPointer(rebasing: all[cut...]))
        }
        XCTAssertEqual(SHA256.hex(hasher.finalize()), expected, "length \(length) cut at \(cut)")
      }
    }
  }

  func testFixtureCheckpointMatchesSha256sum() throws {
    let path = TestPaths.fixture("tiny_16x12_n2", "model.pth")
    XCTAssertEqual(try SHA256.hexDigest(ofFileAt: path), try sha256sum(path))
  }

  /// A file longer than the 1 MiB read buffer, so the digest spans several reads.
  func testFileLongerThanOneChunk() throws {
    let bytes = (0..<(2_500_000)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
    let path = TestPaths.temporary("sha-large.bin")
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let expected = try sha256sum(path)
    XCTAssertEqual(try SHA256.hexDigest(ofFileAt: path), expected)
    XCTAssertEqual(SHA256.hex(SHA256.hash(bytes)), expected)
  }

  func testMissingFileIsAnErrorNamingThePath() {
    let path = TestPaths.temporary("absent.pth")
    do throws(CalibrationError) {
      _ = try SHA256.hexDigest(ofFileAt: path)
      XCTFail("expected an error")
    } catch {
      XCTAssertEqual(error.kind, .fileAccess)
      XCTAssertTrue(error.description.contains(path), "\(error)")
      XCTAssertTrue(error.description.contains("No such file"), "\(error)")
    }
  }

  /// What `/usr/bin/sha256sum` prints for `path`.
  private func sha256sum(_ path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0)
    return String(decoding: output, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
  }
}
