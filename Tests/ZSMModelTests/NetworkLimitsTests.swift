import XCTest
import ZSMModel
import ZSMRuntime

/// Window and frame sizes beyond the limits, and arenas beyond the memory cap, are errors
/// (they trapped on `2 * frames` or aborted in the allocator).
final class NetworkLimitsTests: XCTestCase {
  func network() throws -> ZSMNetwork {
    try loadZSMNetwork(model: TestPaths.fixture("tiny_16x12_n2", "model.pth"), threads: 1)
  }

  func testHugeWindowIsAnError() throws {
    let net = try network()
    for frames in [4_611_686_018_427_387_904, Int.max, Limits.maximumWindow + 1] {
      XCTAssertThrowsError(try net.prepare(frames: frames, height: 12, width: 16)) { error in
        XCTAssertTrue("\(error)".contains("at most \(Limits.maximumWindow) input frames"), "\(error)")
      }
    }
  }

  func testHugeFrameIsAnError() throws {
    let net = try network()
    XCTAssertThrowsError(try net.prepare(frames: 2, height: 16384, width: 16384)) { error in
      XCTAssertTrue("\(error)".contains("at most \(Limits.maximumFrameDimension)"), "\(error)")
    }
  }

  func testArenaOverTheMemoryLimitIsAnErrorNamingItsSize() throws {
    let net = try network()
    MemoryLimit.bytes = 1_000_000
    defer { MemoryLimit.reset() }
    XCTAssertThrowsError(try net.prepare(frames: 4, height: 480, width: 640)) { error in
      let text = "\(error)"
      XCTAssertTrue(text.contains("the arena of a window of 4 frames of 640x480 needs"), text)
      XCTAssertTrue(text.contains("the memory limit is 1.0 MB"), text)
    }
    MemoryLimit.reset()
    XCTAssertNoThrow(try net.prepare(frames: 2, height: 12, width: 16), "the network is usable afterwards")
  }

  func testMemoryLimitFormatsAndCountsAllocations() throws {
    XCTAssertEqual(MemoryLimit.formatted(68_700_000_000), "68.7 GB")
    XCTAssertEqual(MemoryLimit.formatted(512), "512 B")
    let before = MemoryLimit.bytesInUse
    do {
      let arena = try Arena(byteCount: 4096)
      XCTAssertEqual(MemoryLimit.bytesInUse, before + 4096)
      _ = arena
    }
    XCTAssertEqual(MemoryLimit.bytesInUse, before)
    XCTAssertThrowsError(try Arena(byteCount: Int.max / 2))
  }
}
