import CV4L2
import Foundation
import XCTest
import ZSMKernels
import ZSMModel
import ZSMPipeline
import ZSMRuntime
import ZSMVideo

/// `LivePipeline` end to end on its three threads (capture, network, presenter), with the camera
/// driven through `ScriptedSyscalls`: a device that delivers `frameCount` YUYV frames in real
/// time, then goes silent until the test stops the pipeline. The real V4L2 and KMS drivers run in
/// Tests/VM; this test is what ThreadSanitizer runs over the pipeline's threads and queues
/// (.ci/run's tsan_tests), and it checks what the threads hand each other: every frame shown is
/// one of the network's outputs for a window of consecutive camera frames, in order, and the
/// last window's last output is shown.
final class LivePipelineTests: XCTestCase {
  static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/tiny_16x12_n2/model.pth").path
  let width = 16
  let height = 12
  let bufferCount = 3
  let frameCount = 10

  /// Luma of camera frame `k` at (x, y); chroma is neutral (128), so R = G = B = (Y - 16) / 219.
  func luma(_ k: Int, _ x: Int, _ y: Int) -> UInt8 { UInt8(16 + (x * 11 + y * 7 + k * 23) % 200) }

  /// The network's input for camera frame `k`: planar RGB in [0, 1].
  func rgb(_ k: Int) -> [Float] {
    var plane = [Float](repeating: 0, count: width * height)
    for y in 0..<height { for x in 0..<width { plane[y * width + x] = Float(Int(luma(k, x, y)) - 16) / 219 } }
    return plane + plane + plane
  }

  /// Frame `k` in buffer `k % bufferCount`, 40 ms after the previous one (the poll waits).
  func scriptFrame(_ s: ScriptedSyscalls, _ k: Int) {
    if k > 0 { s.expect("ioctl", request: ZSM_VIDIOC_QBUF, .value(0)) }  // the previous buffer back
    s.expect(
      "poll",
      .fill { p in
        usleep(40_000)
        p.assumingMemoryBound(to: pollfd.self).pointee.revents = Int16(POLLIN)
        return 1
      })
    let index = k % bufferCount
    s.expect(
      "ioctl", request: ZSM_VIDIOC_DQBUF,
      .fill { [unowned s, self] p in
        let m = s.mapping(fd: 3, offset: Int64(index * 4096))!.assumingMemoryBound(to: UInt8.self)
        for y in 0..<self.height {
          for x in 0..<self.width {
            m[2 * (y * self.width + x)] = self.luma(k, x, y)
            m[2 * (y * self.width + x) + 1] = 128  // Cb for even x, Cr for odd x
          }
        }
        let b = p.assumingMemoryBound(to: v4l2_buffer.self)
        b.pointee.index = UInt32(index)
        b.pointee.sequence = UInt32(k)
        b.pointee.bytesused = UInt32(2 * self.width * self.height)
        return 0
      })
  }

  func testShowsTheNetworksOutputsOfConsecutiveFramesInOrder() throws {
    let (stateDict, config) = try StateDict.loadZSM(path: Self.model)
    let network = try ZSMNetwork(stateDict: stateDict, config: config, threads: 2)
    // The outputs of every window of two consecutive frames, computed before the live run.
    let outFrame = 3 * 16 * width * height
    try network.prepare(frames: 2, height: height, width: width)
    var expected: [[Float]] = []  // window w's output j at 3 * w + j
    for w in 0..<(frameCount - 1) {
      let input = rgb(w) + rgb(w + 1)
      var output = [Float](repeating: 0, count: 3 * outFrame)
      input.withUnsafeBufferPointer { i in
        output.withUnsafeMutableBufferPointer { o in network.run(input: i.baseAddress!, output: o.baseAddress!) }
      }
      for j in 0..<3 { expected.append(Array(output[(j * outFrame)..<((j + 1) * outFrame)])) }
    }

    let s = ScriptedSyscalls()
    s.expectCaptureStart(width: width, height: height, buffers: bufferCount)
    for k in 0..<frameCount { scriptFrame(s, k) }
    // Silence: the first poll waits until the test stops the pipeline; the next ones let the
    // capture thread see the stop (each is 0.5 s of the script's clock, 0.1 s of real time).
    s.expect("ioctl", request: ZSM_VIDIOC_QBUF, .value(0))
    let stop = NSCondition()
    nonisolated(unsafe) var stopRequested = false
    s.expect(
      "poll",
      .fill { _ in
        stop.lock()
        while !stopRequested { stop.wait() }
        stop.unlock()
        return 0
      })
    let silentPolls = 100
    for _ in 0..<silentPolls {
      s.expect(
        "poll",
        .fill { _ in
          usleep(100_000)
          return 0
        })
    }
    let camera = try V4L2Camera(
      CameraConfiguration(
        path: "/dev/video0", fourcc: .yuyv, width: width, height: height, bufferCount: bufferCount,
        frameTimeoutMilliseconds: 1_000_000),
      sys: Sys(s))

    // Frames shown, as (window, output) of `expected`, from the presenter thread.
    let shown = NSLock()
    nonisolated(unsafe) var shownOutputs: [Int] = []
    nonisolated(unsafe) var unmatched: [Float] = []
    let pipeline = try LivePipeline(
      network: network, camera: camera, windowSize: 2, downscale: 1, slowmo: false,
      present: { frame in
        let pixels = Array(UnsafeBufferPointer(start: frame.base, count: outFrame))
        var best = (index: -1, error: Float.infinity)
        for (i, e) in expected.enumerated() {
          var error: Float = 0
          for p in 0..<outFrame { error = max(error, abs(pixels[p] - e[p])) }
          if error < best.error { best = (i, error) }
        }
        shown.lock()
        // 1e-4: the same network on the same frames; only the YUYV conversion's rounding of
        // (Y - 16) / 219 (a few ulp of the input) may differ.
        if best.error <= 1e-4 { shownOutputs.append(best.index) } else { unmatched.append(best.error) }
        shown.unlock()
      })
    XCTAssertEqual(pipeline.networkSize.width, width)
    let lastOutput = 3 * (frameCount - 1) - 1
    let start = monotonicSeconds()
    let statistics = try pipeline.run(
      outputLimit: nil,
      shouldStop: {
        shown.lock()
        let done = shownOutputs.last == lastOutput || !unmatched.isEmpty || monotonicSeconds() - start > 60
        shown.unlock()
        if done {
          stop.lock()
          stopRequested = true
          stop.broadcast()
          stop.unlock()
        }
        return done
      }, report: { _ in })

    shown.lock()
    let outputs = shownOutputs
    let mismatched = unmatched
    shown.unlock()
    XCTAssertEqual(mismatched, [], "frames shown that are no output of the network (largest errors)")
    XCTAssertEqual(outputs.last, lastOutput, "the last window's last output was not shown: \(outputs)")
    XCTAssertEqual(outputs, outputs.sorted(), "frames shown out of order")
    XCTAssertEqual(Set(outputs).count, outputs.count, "a frame shown twice: \(outputs)")
    XCTAssertEqual(statistics.framesCaptured, frameCount)
    XCTAssertEqual(statistics.framesPresented, outputs.count)
    XCTAssertGreaterThanOrEqual(statistics.windows, 1)
    // A window that shares its first frame with the one before skips that output (shown already).
    for (a, b) in zip(outputs, outputs.dropFirst()) where b / 3 == a / 3 + 1 {
      XCTAssertNotEqual(b % 3, 0, "window \(b / 3) repeated the frame window \(a / 3) showed last: \(outputs)")
    }

    // The capture thread has stopped; the camera closes as a real one would.
    XCTAssertEqual(s.mismatches, [])
    s.steps.removeSubrange(s.cursor...)
    s.expect("ioctl", request: ZSM_VIDIOC_STREAMOFF, .value(0))
    for _ in 0..<bufferCount { s.expect("munmap", .value(0)) }
    s.expect("close", .value(0))
    camera.stop()
    XCTAssert(s.finished, "mismatches \(s.mismatches), left \(s.remaining)")
  }
}
