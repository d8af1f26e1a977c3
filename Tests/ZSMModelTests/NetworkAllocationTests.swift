import CAllocCounter
import Foundation
import XCTest
import ZSMModel
import ZSMRuntime

/// After the first window, a window of the whole network performs no heap allocation
/// (malloc & co. are interposed and counted process-wide).
final class NetworkAllocationTests: XCTestCase {
  func testNoAllocationPerWindowAfterTheFirst() throws {
    try checkNoAllocation(precisions: [.fp32, .fp16])
  }

  func testNoAllocationPerInt8WindowAfterTheFirst() throws {
    guard Int8Policy.unavailableReason == nil else { throw XCTSkip(Int8RefusalTests.noKernels) }
    try checkNoAllocation(precisions: [.int8])
  }

  /// The same with every stride-1 3x3 layer of this nf 16 fixture by Winograd (its weights
  /// made in the shared buffer at each run), fp32 and fp16 maps.
  func testNoAllocationPerWinogradWindowAfterTheFirst() throws {
    let saved = (
      WinogradPolicy.minimumInputChannels, WinogradPolicy.minimumOutputChannels, WinogradPolicy.minimumWidth,
      RuntimeTuning.winograd
    )
    (WinogradPolicy.minimumInputChannels, WinogradPolicy.minimumOutputChannels) = (16, 16)
    WinogradPolicy.minimumWidth = 1
    RuntimeTuning.winograd = true
    defer {
      (
        WinogradPolicy.minimumInputChannels, WinogradPolicy.minimumOutputChannels, WinogradPolicy.minimumWidth,
        RuntimeTuning.winograd
      ) = saved
    }
    try checkNoAllocation(precisions: [.fp32, .fp16])
  }

  func checkNoAllocation(precisions: [Precision]) throws {
    let path = GoldenTests.fixtures.appendingPathComponent("small_32x24_n3/model.pth").path
    let (stateDict, config) = try StateDict.loadZSM(path: path)
    let input = [Float](repeating: 0.5, count: 3 * 3 * 24 * 32)
    var output = [Float](repeating: 0, count: 5 * 3 * 96 * 128)
    // An int8 table from one fp32 window (the values do not matter here, only the path).
    let calibrating = try ZSMNetwork(stateDict: stateDict, config: config, threads: 1)
    try calibrating.prepare(frames: 3, height: 24, width: 32)
    let recorder = calibrating.recordActivations()
    calibrating.run(input: input, output: &output)
    let table = CalibrationTable(
      modelSHA256: String(repeating: "0", count: 64), method: "test", clip: "constant", frames: 3, windows: 1,
      entries: recorder.entries(quantile: 1), psnrY: [])
    for precision in precisions {
      for threads in [1, 2] {
        let network = try ZSMNetwork(
          stateDict: stateDict, config: config, threads: threads, precision: precision, calibration: table)
        try network.prepare(frames: 3, height: 24, width: 32)
        input.withUnsafeBufferPointer { inp in
          output.withUnsafeMutableBufferPointer { out in
            network.run(input: inp.baseAddress!, output: out.baseAddress!)  // first window
            zsm_alloc_counter_start()
            for _ in 0..<2 { network.run(input: inp.baseAddress!, output: out.baseAddress!) }
            let allocations = zsm_alloc_counter_stop()
            XCTAssertEqual(
              allocations, 0, "\(precision), \(threads) thread(s): heap allocations in steady-state windows")
          }
        }
      }
    }
  }
}

/// Row-parallel splitting never changes the arithmetic of an output value, so results are
/// bit-identical whatever the thread count (windows computed on different machines agree).
final class DeterminismTests: XCTestCase {
  func testOutputsAreBitIdenticalAcrossThreadCounts() throws {
    let path = GoldenTests.fixtures.appendingPathComponent("tiny_13x10_n4/model.pth").path
    let (stateDict, config) = try StateDict.loadZSM(path: path)
    let count = 4 * 3 * 10 * 13
    let input: [Float] = (0..<count).map { i in Float((i * 37) % 101) / 101 }
    var outputs: [[Float]] = []
    for threads in [1, 2, 3] {
      let network = try ZSMNetwork(stateDict: stateDict, config: config, threads: threads)
      try network.prepare(frames: 4, height: 10, width: 13)
      var output = [Float](repeating: 0, count: 7 * 3 * 40 * 52)
      network.run(input: input, output: &output)
      outputs.append(output)
    }
    XCTAssertEqual(outputs[0].map(\.bitPattern), outputs[1].map(\.bitPattern))
    XCTAssertEqual(outputs[0].map(\.bitPattern), outputs[2].map(\.bitPattern))
  }
}
