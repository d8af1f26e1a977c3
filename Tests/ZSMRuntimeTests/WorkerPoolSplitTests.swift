import XCTest
import ZSMRuntime

/// How a layer's rows are split over 4 and 8 workers (the boards this runtime is for have
/// 4-8 cores; this machine may have 2, so pools of 4 and 8 threads run oversubscribed here,
/// which changes the speed, not the split), and the pinning of a pool to a board's CPUs.
final class WorkerPoolSplitTests: XCTestCase {
  /// Counts how often each row is visited, and checks worker indices.
  struct Visit: RowJob {
    let counts: UnsafeMutablePointer<Int>
    let workers: Int
    func run(rows: Range<Int>, worker: Int) {
      precondition(worker >= 0 && worker < workers)
      for r in rows { counts[r] += 1 }
    }
  }

  func testRowChunksKeepRowsTogetherAndEveryWorkerBusy() {
    // 80x60 frames: L1 maps 60 rows, L2 30, L3 15; 180x144: 144, 72, 36; the x4 tail bands.
    for threads in [4, 8] {
      for rows in [1, 2, 3, 7, 15, 30, 36, 60, 72, 144, 240, 1000] {
        let chunks = WorkerPool.rowChunks(rows: rows, threads: threads, chunksPerThread: 4, minimumRows: 4)
        XCTAssertGreaterThanOrEqual(
          chunks, min(threads, rows), "\(rows) rows, \(threads) threads: every worker gets work")
        XCTAssertLessThanOrEqual(chunks, min(rows, 4 * threads), "\(rows) rows, \(threads) threads")
        if rows >= 4 * threads {
          XCTAssertGreaterThanOrEqual(rows / chunks, 4, "\(rows) rows, \(threads) threads: chunks of 4 rows or more")
        }
        if rows >= 16 * threads {
          XCTAssertEqual(chunks, 4 * threads, "\(rows) rows, \(threads) threads: 4 chunks per thread for balance")
        }
      }
    }
    XCTAssertEqual(WorkerPool.rowChunks(rows: 60, threads: 8, chunksPerThread: 4, minimumRows: 4), 15)
    XCTAssertEqual(WorkerPool.rowChunks(rows: 15, threads: 8, chunksPerThread: 4, minimumRows: 4), 8)
    XCTAssertEqual(WorkerPool.rowChunks(rows: 60, threads: 2, chunksPerThread: 4, minimumRows: 4), 8)
    XCTAssertEqual(WorkerPool.rowChunks(rows: 15, threads: 2, chunksPerThread: 4, minimumRows: 4), 3)
    XCTAssertEqual(WorkerPool.rowChunks(rows: 100, threads: 1, chunksPerThread: 4, minimumRows: 4), 1)
  }

  func testPoolsOfFourAndEightVisitEveryRowOnce() {
    for threads in [4, 8] {
      let pool = WorkerPool(threads: threads)
      for rows in [1, 5, 15, 60, 144] {
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: rows + 10)
        counts.initialize(repeating: 0, count: rows + 10)
        defer { counts.deallocate() }
        pool.forEachRowRange(rows: rows, Visit(counts: counts, workers: threads))
        XCTAssertEqual(
          (0..<rows).map { counts[$0] }, [Int](repeating: 1, count: rows), "\(threads) threads, \(rows) rows")
        pool.forEachRowRange(rows: 3..<(3 + rows), Visit(counts: counts, workers: threads))
        XCTAssertEqual(
          (0..<(rows + 3)).map { counts[$0] }, (0..<(rows + 3)).map { ($0 < rows ? 1 : 0) + ($0 >= 3 ? 1 : 0) },
          "an offset range visits its own rows once")
      }
    }
  }

  /// A board's `runtime.affinity` pins the pool's threads to those CPUs (real affinity masks,
  /// read back from the kernel); CPUs this process may not use are left out, and with none
  /// left the pool is not pinned.
  func testPoolThreadsArePinnedToTheBoardsCPUs() throws {
    let available = WorkerPool.processCPUs()
    try XCTSkipIf(available.isEmpty, "no affinity mask readable here")
    let first = available[0]
    let pinned = WorkerPool(threads: 3, cpus: [first])
    XCTAssertEqual(pinned.cpus, [first])
    XCTAssertEqual(pinned.workerAffinities, [[first], [first]])
    let all = WorkerPool(threads: 3, cpus: [])
    XCTAssertEqual(all.workerAffinities, [available, available], "no pinning: the process's CPUs")
    let unusable = WorkerPool(threads: 2, cpus: [100_000])
    XCTAssertEqual(unusable.cpus, [], "a CPU this process may not use is left out")
    XCTAssertEqual(unusable.workerAffinities, [available])
    // From a board file, through RuntimeTuning.
    RuntimeTuning.affinity = [first]
    defer { RuntimeTuning.affinity = [] }
    XCTAssertEqual(WorkerPool(threads: 2).workerAffinities, [[first]])
  }
}
