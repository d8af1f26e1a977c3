import CAllocCounter
import Foundation
import XCTest
import ZSMModel

/// After the first window, a window of the whole network performs no heap allocation
/// (malloc & co. are interposed and counted process-wide).
final class NetworkAllocationTests: XCTestCase {
  func testNoAllocationPerWindowAfterTheFirst() throws {
    let path = GoldenTests.fixtures.appendingPathComponent("small_32x24_n3/model.pth").path
    let (stateDict, config) = try StateDict.loadZSM(path: path)
    for threads in [1, 2] {
      let network = try ZSMNetwork(stateDict: stateDict, config: config, threads: threads)
      try network.prepare(frames: 3, height: 24, width: 32)
      let input = [Float](repeating: 0.5, count: 3 * 3 * 24 * 32)
      var output = [Float](repeating: 0, count: 5 * 3 * 96 * 128)
      input.withUnsafeBufferPointer { inp in
        output.withUnsafeMutableBufferPointer { out in
          network.run(input: inp.baseAddress!, output: out.baseAddress!)  // first window
          zsm_alloc_counter_start()
          for _ in 0..<2 { network.run(input: inp.baseAddress!, output: out.baseAddress!) }
          let allocations = zsm_alloc_counter_stop()
          XCTAssertEqual(allocations, 0, "\(threads) thread(s): heap allocations in steady-state windows")
        }
      }
    }
  }
}
