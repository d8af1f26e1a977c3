import XCTest
import ZSMModel

final class WindowPlanTests: XCTestCase {
  /// Every output exactly once, in order, each from a window that really computes it.
  func assertCoversExactlyOnce(_ plan: WindowPlan, file: StaticString = #filePath, line: UInt = #line) {
    var next = 0
    for w in plan.windows {
      XCTAssertEqual(w.outputs.lowerBound, next, "gap or overlap at output \(next)", file: file, line: line)
      XCTAssertGreaterThanOrEqual(w.outputs.lowerBound, 2 * w.firstFrame, file: file, line: line)
      XCTAssertLessThanOrEqual(w.outputs.upperBound, 2 * (w.firstFrame + w.frameCount) - 1, file: file, line: line)
      XCTAssertGreaterThanOrEqual(w.firstFrame, 0, file: file, line: line)
      XCTAssertLessThanOrEqual(w.firstFrame + w.frameCount, plan.frameCount, file: file, line: line)
      next = w.outputs.upperBound
    }
    XCTAssertEqual(next, 2 * plan.frameCount - 1, "all 2L-1 outputs", file: file, line: line)
  }

  func testEveryClipLengthAndWindowSize() {
    for n in 2...7 {
      for l in 2...40 { assertCoversExactlyOnce(WindowPlan(frameCount: l, windowSize: n)) }
    }
  }

  func testRegularWindowsShareOneFrameAndTheTailIsAlignedToTheEnd() {
    // N = 4, L = 11: windows [0..3], [3..6], [6..9], then the tail [7..10] for outputs 19, 20.
    let plan = WindowPlan(frameCount: 11, windowSize: 4)
    XCTAssertEqual(plan.windows.map(\.firstFrame), [0, 3, 6, 7])
    XCTAssertEqual(plan.windows.map(\.outputs), [0..<7, 7..<13, 13..<19, 19..<21])
    // L = 10 fits exactly: no extra window.
    XCTAssertEqual(WindowPlan(frameCount: 10, windowSize: 4).windows.map(\.firstFrame), [0, 3, 6])
    // A clip shorter than a window is one window of the whole clip.
    let short = WindowPlan(frameCount: 3, windowSize: 4)
    XCTAssertEqual(short.windows, [.init(firstFrame: 0, frameCount: 3, outputs: 0..<5)])
  }

  func testConsecutiveRangesConcatenateToTheWholeRun() {
    for (l, n) in [(11, 4), (8, 3), (5, 2), (23, 5)] {
      let plan = WindowPlan(frameCount: l, windowSize: n)
      for cuts in [[0, l], [0, 3, l], [0, 1, 2, 7, l], Array(stride(from: 0, to: l, by: 2)) + [l]] {
        var produced: [Int] = []
        for (a, b) in zip(cuts, cuts.dropFirst()) where a < b {
          for w in plan.restricted(to: a..<b) {
            // Each restricted window is one of the whole plan's windows (same input frames).
            XCTAssertTrue(plan.windows.contains { $0.firstFrame == w.firstFrame && $0.frameCount == w.frameCount })
            produced += Array(w.outputs)
          }
        }
        XCTAssertEqual(produced, Array(0..<(2 * l - 1)), "L \(l) N \(n) cuts \(cuts)")
      }
    }
  }
}
