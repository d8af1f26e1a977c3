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
    let upscaler = try ClipUpscaler(
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

extension DaemonTests {
  /// A steady-state daemon window (read, network, STATUS to a real notify socket, metrics file
  /// rewritten) performs no heap allocation: counted between the ends of windows 3 and 4.
  func testDaemonWindowAllocatesNothing() throws {
    let clip = directory.appendingPathComponent("clip.y4m").path
    try clipBytes(frames: 9).0.write(to: URL(fileURLWithPath: clip))
    let metrics = directory.appendingPathComponent("zsm.prom").path
    let listener = try NotifyListener(path: directory.appendingPathComponent("notify").path)
    let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/tiny_16x12_n2/model.pth").path
    let config = directory.appendingPathComponent("null.json").path
    try """
    {"model": "\(model)", "threads": 2, "window": 2, "source": {"type": "y4m", "path": "\(clip)"},
     "sink": {"type": "null"}, "metrics": "\(metrics)"}
    """.write(toFile: config, atomically: true, encoding: .utf8)
    let daemon = try Daemon(
      configPath: config, environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "20000000"], log: { _ in })
    var allocations: Int64 = -1
    daemon.windowObserver = { m in
      if m.windows == 3 { zsm_alloc_counter_start() }
      if m.windows == 4 { allocations = zsm_alloc_counter_stop() }
    }
    XCTAssertEqual(try daemon.run(), 0)
    XCTAssertEqual(allocations, 0, "heap allocations during one steady-state daemon window")
    XCTAssertTrue(listener.receive(timeout: 1).contains { $0.hasPrefix("STATUS=") })
    XCTAssertTrue(try String(contentsOfFile: metrics, encoding: .utf8).contains("zsm_windows_total 8\n"))
  }
}
