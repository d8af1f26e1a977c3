import Foundation
import XCTest
import ZSMModel

/// A network that goes away takes its worker threads with it: the daemon loads a new one on
/// every reload that changes the model or the thread count.
final class NetworkLifetimeTests: XCTestCase {
  func testANetworkThatGoesAwayEndsItsWorkerThreads() throws {
    let path = GoldenTests.fixtures.appendingPathComponent("tiny_16x12_n2/model.pth").path
    let before = try threadCount()
    weak var released: ZSMNetwork?
    do {
      let network = try loadZSMNetwork(model: path, threads: 3)
      try network.prepare(frames: 2, height: 12, width: 16)
      var output = [Float](repeating: 0, count: 3 * 3 * 48 * 64)
      network.run(input: [Float](repeating: 0.5, count: 2 * 3 * 12 * 16), output: &output)
      released = network
      XCTAssertEqual(try threadCount(), before + 2, "3 threads: the caller and 2 workers")
    }
    XCTAssertNil(released, "the network is still referenced after its last owner went away")
    XCTAssertEqual(try threadCount(), before, "worker threads left behind")
  }

  func threadCount() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Threads:") })
    return try XCTUnwrap(Int(line.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? ""))
  }
}
