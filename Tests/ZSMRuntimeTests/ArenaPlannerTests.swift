import Foundation
import XCTest
import ZSMRuntime

final class ArenaPlannerTests: XCTestCase {
  /// No two tensors whose lifetimes overlap may share bytes.
  func assertNoConflicts(_ plan: ArenaPlan, file: StaticString = #filePath, line: UInt = #line) {
    for i in plan.entries.indices {
      for j in plan.entries.indices where j > i {
        let a = plan.entries[i]
        let b = plan.entries[j]
        guard a.firstUse <= b.lastUse && b.firstUse <= a.lastUse else { continue }
        let disjoint =
          plan.offsets[i] + a.bytes <= plan.offsets[j] || plan.offsets[j] + b.bytes <= plan.offsets[i]
        XCTAssertTrue(disjoint, "\(a.name) and \(b.name) are live together but overlap", file: file, line: line)
      }
      XCTAssertEqual(plan.offsets[i] % 64, 0, "offsets are 64-byte aligned", file: file, line: line)
      XCTAssertLessThanOrEqual(plan.offsets[i] + plan.entries[i].bytes, plan.totalBytes, file: file, line: line)
    }
  }

  func testChainReusesMemory() throws {
    // a -> b -> c -> d: only neighbours are live together.
    var planner = ArenaPlanner()
    planner.add("a", bytes: 6400, firstUse: 0, lastUse: 1)
    planner.add("b", bytes: 12800, firstUse: 1, lastUse: 2)
    planner.add("c", bytes: 6400, firstUse: 2, lastUse: 3)
    planner.add("d", bytes: 6400, firstUse: 3, lastUse: 4)
    let plan = try planner.plan()
    assertNoConflicts(plan)
    XCTAssertEqual(plan.totalBytes, 19200, "the largest pair of neighbours")
    XCTAssertEqual(plan.unplannedBytes, 32000)
  }

  func testDisjointLifetimesShareOneSlot() throws {
    var planner = ArenaPlanner()
    for i in 0..<10 { planner.add("t\(i)", bytes: 1000, firstUse: i, lastUse: i) }
    let plan = try planner.plan()
    assertNoConflicts(plan)
    XCTAssertEqual(plan.totalBytes, 1024)
  }

  func testRandomGraphsNeverConflict() throws {
    var seed: UInt64 = 42
    func next(_ n: Int) -> Int {
      seed = seed &* 6_364_136_223_846_793_005 &+ 1
      return Int((seed >> 33) % UInt64(n))
    }
    for _ in 0..<50 {
      var planner = ArenaPlanner()
      for i in 0..<(5 + next(40)) {
        let first = next(30)
        planner.add("t\(i)", bytes: 1 + next(100_000), firstUse: first, lastUse: first + next(8))
      }
      let plan = try planner.plan()
      assertNoConflicts(plan)
      XCTAssertLessThanOrEqual(plan.totalBytes, plan.unplannedBytes)
    }
  }
}

/// The planner's placement by a full scan of every placed tensor (what `plan()` did before the
/// step index): the indexed planner must place every tensor at the same offset.
func referencePlan(_ entries: [ArenaPlanner.Entry]) -> (offsets: [Int], total: Int) {
  var offsets = [Int](repeating: 0, count: entries.count)
  let order = entries.indices.sorted {
    entries[$0].bytes != entries[$1].bytes ? entries[$0].bytes > entries[$1].bytes : $0 < $1
  }
  var placed: [Int] = []
  var total = 0
  for id in order {
    let e = entries[id]
    // Typed steps: Swift 6.2 cannot type-check the chained filter/map/sorted in reasonable time.
    let overlapping: [Int] = placed.filter { (i: Int) -> Bool in
      entries[i].firstUse <= e.lastUse && e.firstUse <= entries[i].lastUse
    }
    let ranges: [(Int, Int)] = overlapping.map { (i: Int) -> (Int, Int) in (offsets[i], offsets[i] + entries[i].bytes) }
    let conflicts = ranges.sorted { (a: (Int, Int), b: (Int, Int)) -> Bool in a.0 != b.0 ? a.0 < b.0 : a.1 < b.1 }
    var bestOffset = -1
    var bestGap = Int.max
    var cursor = 0
    for (start, end) in conflicts {
      if start - cursor >= e.bytes && start - cursor < bestGap {
        bestGap = start - cursor
        bestOffset = cursor
      }
      cursor = max(cursor, end)
    }
    if bestOffset < 0 { bestOffset = cursor }
    offsets[id] = bestOffset
    total = max(total, bestOffset + e.bytes)
    placed.append(id)
  }
  return (offsets, total)
}

final class ArenaPlannerScalingTests: XCTestCase {
  func testSameOffsetsAsAFullScan() throws {
    var seed: UInt64 = 7
    func next(_ n: Int) -> Int {
      seed = seed &* 6_364_136_223_846_793_005 &+ 1
      return Int((seed >> 33) % UInt64(n))
    }
    for _ in 0..<40 {
      var planner = ArenaPlanner()
      for i in 0..<(5 + next(300)) {
        let first = next(200)
        // Mostly short lifetimes, some spanning much of the graph (like a window's states).
        let length = next(10) == 0 ? next(150) : next(6)
        planner.add("t\(i)", bytes: 64 * (1 + next(20)), firstUse: first, lastUse: first + length)
      }
      let plan = try planner.plan()
      let reference = referencePlan(planner.entries)
      XCTAssertEqual(plan.offsets, reference.offsets)
      XCTAssertEqual(plan.totalBytes, reference.total)
    }
  }

  /// Planning must not scan every placed tensor for every tensor: 400,000 tensors in a chain
  /// (a window of about 2,000 frames has that many) took hours that way. A hang detector,
  /// not a timing: the bound is far above what the indexed planner takes.
  func testLongChainPlansWithoutQuadraticCost() throws {
    let done = expectation(description: "planned")
    let result = PlanBox()
    Thread.detachNewThread {
      var planner = ArenaPlanner()
      for i in 0..<400_000 { planner.add("t", bytes: 64 * (1 + i % 3), firstUse: i, lastUse: i + 1) }
      result.plan = try? planner.plan()
      done.fulfill()
    }
    wait(for: [done], timeout: 120)
    var prefix = ArenaPlanner()
    for i in 0..<3000 { prefix.add("t", bytes: 64 * (1 + i % 3), firstUse: i, lastUse: i + 1) }
    XCTAssertEqual(result.plan?.totalBytes, referencePlan(prefix.entries).total, "the pattern repeats")
  }

  func testOverflowingArenaIsAnError() {
    var planner = ArenaPlanner()
    planner.add("a", bytes: Int.max / 2, firstUse: 0, lastUse: 1)
    planner.add("b", bytes: Int.max / 2, firstUse: 0, lastUse: 1)
    planner.add("c", bytes: Int.max / 2, firstUse: 1, lastUse: 2)
    XCTAssertThrowsError(try planner.plan())
  }
}

final class PlanBox: @unchecked Sendable {
  var plan: ArenaPlan?
}

/// Counts how often each task runs (each index is handed out once per run, so no race).
struct CountTasks: ParallelJob {
  let counts: UnsafeMutablePointer<Int>
  let threads: Int
  func run(task: Int, worker: Int) {
    precondition(worker < threads)
    counts[task] += 1
  }
}

struct CountRows: RowJob {
  let seen: UnsafeMutablePointer<Int>
  func run(rows: Range<Int>, worker: Int) { for r in rows { seen[r] += 1 } }
}

final class WorkerPoolTests: XCTestCase {
  func testEveryTaskRunsExactlyOnce() {
    for threads in [1, 2, 3, 4] {
      let pool = WorkerPool(threads: threads)
      for tasks in [1, 2, 7, 64] {
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
        counts.initialize(repeating: 0, count: tasks)
        for _ in 0..<50 { pool.run(tasks: tasks, CountTasks(counts: counts, threads: threads)) }
        for t in 0..<tasks { XCTAssertEqual(counts[t], 50, "threads \(threads), tasks \(tasks)") }
        counts.deallocate()
      }
    }
  }

  func testRowRangesCoverEachRowOnce() {
    let pool = WorkerPool(threads: 3)
    for rows in [1, 2, 5, 144] {
      let seen = UnsafeMutablePointer<Int>.allocate(capacity: rows)
      seen.initialize(repeating: 0, count: rows)
      pool.forEachRowRange(rows: rows, CountRows(seen: seen))
      for r in 0..<rows { XCTAssertEqual(seen[r], 1) }
      seen.deallocate()
    }
  }

  /// A pool whose last owner lets go is freed, which stops and joins its threads (a daemon
  /// makes a new pool with every network it reloads). Its workers used to hold it strongly for
  /// as long as they ran, so no pool with workers was ever freed.
  func testAPoolThatGoesAwayIsFreed() {
    for threads in [2, 3] {
      weak var released: WorkerPool?
      do {
        let pool = WorkerPool(threads: threads)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 8)
        counts.initialize(repeating: 0, count: 8)
        pool.run(tasks: 8, CountTasks(counts: counts, threads: threads))
        counts.deallocate()
        released = pool
      }
      XCTAssertNil(released, "a pool of \(threads) threads outlived its last owner")
    }
  }
}
