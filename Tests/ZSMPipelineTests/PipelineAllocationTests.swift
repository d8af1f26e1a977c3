import CAllocCounter
import Foundation
import XCTest
import ZSMPipeline
import ZSMVideo

/// In steady state a window of the upscaling pipeline (read, decode, network, encode, write)
/// allocates nothing: allocations are counted between the ends of the second and third windows.
extension ClipUpscalerTests {
  func testNoAllocationPerWindowInSteadyState() throws {
    let clip = try makeClip("allocations.y4m", frames: 9)
    let reader = try Y4MReader(path: clip)
    var header = reader.header
    header.width *= 4
    header.height *= 4
    let writer = try Y4MWriter(path: directory.appendingPathComponent("allocations-out.y4m").path, header: header)
    let upscaler = ClipUpscaler(
      network: Self.network, windowSize: 3, width: reader.header.width, height: reader.header.height,
      decode: .bt601, encode: .bt601)
    var windows = 0
    var allocations: Int64 = -1
    _ = try upscaler.run(reader: reader, writer: writer) { _ in
      windows += 1
      if windows == 2 { zsm_alloc_counter_start() }
      if windows == 3 { allocations = zsm_alloc_counter_stop() }
    }
    try writer.close()
    XCTAssertEqual(allocations, 0, "heap allocations during one steady-state window")
  }
}
