import CZSMCPU
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A fixed set of threads, created once, that split kernels over cores.
///
/// `run(tasks:_:)` hands task indices out dynamically to the calling thread (worker 0) and the
/// pool's threads (workers 1...), and returns when all are done. Nothing is allocated per call:
/// the body is a non-escaping closure, and workers spin briefly before sleeping on a condition
/// variable, so back-to-back small kernels do not pay a wake-up each.
public final class WorkerPool: @unchecked Sendable {
  /// Threads that run tasks, the caller included.
  public let threadCount: Int

  private var threads: [pthread_t] = []
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let wakeCondition: UnsafeMutablePointer<pthread_cond_t>
  private let doneCondition: UnsafeMutablePointer<pthread_cond_t>
  private let generation = Atomic<Int>(0)
  private let nextTask = Atomic<Int>(0)
  private let pendingWorkers = Atomic<Int>(0)
  private var taskCount = 0
  /// The current job (on the caller's stack) and the function that runs one of its tasks.
  private var jobContext: UnsafeRawPointer?
  private var jobInvoke: ((UnsafeRawPointer, Int, Int) -> Void)?
  private var shuttingDown = false

  /// The CPUs the pool's threads are pinned to (empty: not pinned).
  public let cpus: [Int]

  /// - Parameters:
  ///   - threads: total threads including the caller (at least 1).
  ///   - cpus: pin the pool's threads to these CPUs (each may run on any of them); the ones
  ///     this process may not use are left out, and when none is left nothing is pinned.
  ///     Default: `RuntimeTuning.affinity` (a board file's `runtime.affinity`, such as the big
  ///     cores of a big.LITTLE SoC). The calling thread (worker 0) is not pinned: it is the
  ///     program's own.
  public init(threads: Int, cpus: [Int]? = nil) {
    threadCount = max(1, threads)
    self.cpus = WorkerPool.usableCPUs(cpus ?? RuntimeTuning.affinity)
    mutex = .allocate(capacity: 1)
    wakeCondition = .allocate(capacity: 1)
    doneCondition = .allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(wakeCondition, nil)
    pthread_cond_init(doneCondition, nil)
    for worker in 1..<threadCount {
      let context = Unmanaged.passRetained(WorkerContext(pool: .passUnretained(self), worker: worker)).toOpaque()
      var thread = pthread_t()
      let rc = pthread_create(
        &thread, nil,
        { raw in
          let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
          // At +0: a strong reference held for the whole loop would keep the pool alive
          // forever, so its deinit (which stops and joins this thread) would never run.
          context.pool._withUnsafeGuaranteedRef { $0.workerLoop(context.worker) }
          return nil
        }, context)
      precondition(rc == 0, "pthread_create failed: \(rc)")
      self.threads.append(thread)
      if !self.cpus.isEmpty { WorkerPool.pin(thread, to: self.cpus) }
    }
  }

  /// `cpus` that this process may run on (its affinity mask), in order, without repeats.
  static func usableCPUs(_ cpus: [Int]) -> [Int] {
    guard !cpus.isEmpty else { return [] }
    let allowed = Set(processCPUs())
    var seen = Set<Int>()
    return cpus.filter { allowed.contains($0) && seen.insert($0).inserted }
  }

  /// The CPUs this process may run on.
  public static func processCPUs() -> [Int] {
    var cpus = [Int32](repeating: 0, count: 1024)
    let n = zsm_process_cpus(&cpus, Int32(cpus.count))
    return n < 0 ? [] : cpus[0..<Int(n)].map(Int.init)
  }

  /// The CPUs each of the pool's own threads (workers 1...) may run on.
  public var workerAffinities: [[Int]] {
    threads.map { thread in
      var cpus = [Int32](repeating: 0, count: 1024)
      let n = zsm_thread_cpus(thread, &cpus, Int32(cpus.count))
      return n < 0 ? [] : cpus[0..<Int(n)].map(Int.init)
    }
  }

  private static func pin(_ thread: pthread_t, to cpus: [Int]) {
    let list = cpus.map(Int32.init)
    _ = zsm_thread_set_cpus(thread, list, Int32(list.count))
  }

  deinit {
    pthread_mutex_lock(mutex)
    shuttingDown = true
    generation.add(1, ordering: .releasing)
    pthread_cond_broadcast(wakeCondition)
    pthread_mutex_unlock(mutex)
    for thread in threads { pthread_join(thread, nil) }
    pthread_cond_destroy(wakeCondition)
    pthread_cond_destroy(doneCondition)
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
    wakeCondition.deallocate()
    doneCondition.deallocate()
  }

  /// Runs `job(task:worker:)` for every `task` in `0..<tasks`, spread over the threads, and
  /// returns when all are done. `worker` (0..<threadCount) identifies the thread, for
  /// per-thread scratch memory. Not reentrant: a job must not call `run` again.
  ///
  /// Jobs are generic structs rather than closures because handing a non-escaping closure to
  /// other threads (`withoutActuallyEscaping`) heap-allocates a context at every call.
  @inlinable
  public func run<Job: ParallelJob>(tasks: Int, _ job: Job) {
    if tasks <= 0 { return }
    if threadCount == 1 || tasks == 1 {
      for task in 0..<tasks { job.run(task: task, worker: 0) }
      return
    }
    withUnsafePointer(to: job) { pointer in
      dispatch(tasks: tasks, context: UnsafeRawPointer(pointer)) { context, task, worker in
        context.assumingMemoryBound(to: Job.self).pointee.run(task: task, worker: worker)
      }
    }
  }

  /// Splits `rows` into contiguous ranges (`rowChunks`) and runs `job` on each.
  @inlinable
  public func forEachRowRange<Job: RowJob>(rows: Int, _ job: Job) {
    if rows <= 0 { return }
    let chunks = WorkerPool.rowChunks(
      rows: rows, threads: threadCount, chunksPerThread: RuntimeTuning.rowChunksPerThread,
      minimumRows: RuntimeTuning.minimumRowsPerChunk)
    run(tasks: chunks, RowChunks(rows: rows, chunks: chunks, job: job))
  }

  /// How many contiguous row ranges a layer of `rows` output rows is split into over
  /// `threads` threads. Tasks are handed out dynamically, so several chunks per thread
  /// (`chunksPerThread`) let a thread that was preempted, or a slower core, fall behind by one
  /// small chunk instead of a whole share. But each chunk of a 3x3 convolution re-reads the two
  /// input rows beside it and restarts its micro-kernel's row blocking, so a chunk should keep
  /// `minimumRows` rows. When the two conflict (the small maps of the pyramid's third level on
  /// 8 threads), chunk size wins over balance, but never below one chunk per thread while there
  /// are rows for it: an idle core is worse than thin chunks.
  ///
  /// 80x60 frames on 8 threads, 4 chunks per thread, 4 rows minimum: the 60-row maps split in
  /// 15 chunks of 4, the 15-row third level in 8 of 1-2 rows; on 2 threads, 8 and 3.
  @inlinable
  public static func rowChunks(rows: Int, threads: Int, chunksPerThread: Int, minimumRows: Int) -> Int {
    guard rows > 0 else { return 0 }
    guard threads > 1 else { return 1 }
    let balanced = threads * max(1, chunksPerThread)
    let thick = rows / max(1, minimumRows)
    return min(rows, max(min(threads, rows), min(balanced, thick)))
  }

  /// Runs `job` on the rows `rows` (a sub-range of a map), split as above.
  @inlinable
  public func forEachRowRange<Job: RowJob>(rows: Range<Int>, _ job: Job) {
    if rows.isEmpty { return }
    forEachRowRange(rows: rows.count, OffsetRows(offset: rows.lowerBound, job: job))
  }

  @usableFromInline
  func dispatch(tasks: Int, context: UnsafeRawPointer, invoke: @escaping (UnsafeRawPointer, Int, Int) -> Void) {
    pthread_mutex_lock(mutex)
    jobContext = context
    jobInvoke = invoke
    taskCount = tasks
    nextTask.store(0, ordering: .relaxed)
    pendingWorkers.store(threadCount - 1, ordering: .relaxed)
    generation.add(1, ordering: .releasing)
    pthread_cond_broadcast(wakeCondition)
    pthread_mutex_unlock(mutex)
    drainTasks(worker: 0)
    var spins = 0
    while pendingWorkers.load(ordering: .acquiring) != 0 && spins < 20_000 { spins += 1 }
    if pendingWorkers.load(ordering: .acquiring) != 0 {
      pthread_mutex_lock(mutex)
      while pendingWorkers.load(ordering: .acquiring) != 0 { pthread_cond_wait(doneCondition, mutex) }
      pthread_mutex_unlock(mutex)
    }
    jobContext = nil
    jobInvoke = nil
  }

  private func drainTasks(worker: Int) {
    guard let jobContext, let jobInvoke else { return }
    while true {
      let task = nextTask.add(1, ordering: .relaxed).oldValue
      if task >= taskCount { break }
      jobInvoke(jobContext, task, worker)
    }
  }

  fileprivate func workerLoop(_ worker: Int) {
    var seen = 0
    while true {
      var spins = 0
      while generation.load(ordering: .acquiring) == seen && spins < 20_000 { spins += 1 }
      pthread_mutex_lock(mutex)
      while generation.load(ordering: .acquiring) == seen && !shuttingDown {
        pthread_cond_wait(wakeCondition, mutex)
      }
      let stop = shuttingDown
      seen = generation.load(ordering: .acquiring)
      pthread_mutex_unlock(mutex)
      if stop { return }
      drainTasks(worker: worker)
      if pendingWorkers.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(doneCondition)
        pthread_mutex_unlock(mutex)
      }
    }
  }
}

private final class WorkerContext {
  /// Unretained: the pool's deinit joins its threads before anything is freed. (An
  /// `unowned(unsafe)` reference was read as a strong one for the call to `workerLoop`, which
  /// never returns before the deinit: every pool with workers leaked, threads and all.)
  let pool: Unmanaged<WorkerPool>
  let worker: Int
  init(pool: Unmanaged<WorkerPool>, worker: Int) {
    self.pool = pool
    self.worker = worker
  }
}

/// Work a `WorkerPool` splits by task index.
public protocol ParallelJob {
  func run(task: Int, worker: Int)
}

/// Work a `WorkerPool` splits by output rows.
public protocol RowJob {
  func run(rows: Range<Int>, worker: Int)
}

@usableFromInline
struct RowChunks<Job: RowJob>: ParallelJob {
  @usableFromInline let rows: Int
  @usableFromInline let chunks: Int
  @usableFromInline let job: Job

  @inlinable
  init(rows: Int, chunks: Int, job: Job) {
    self.rows = rows
    self.chunks = chunks
    self.job = job
  }

  @inlinable
  func run(task: Int, worker: Int) {
    job.run(rows: (rows * task / chunks)..<(rows * (task + 1) / chunks), worker: worker)
  }
}

@usableFromInline
struct OffsetRows<Job: RowJob>: RowJob {
  @usableFromInline let offset: Int
  @usableFromInline let job: Job

  @inlinable
  init(offset: Int, job: Job) {
    self.offset = offset
    self.job = job
  }

  @inlinable
  func run(rows: Range<Int>, worker: Int) {
    job.run(rows: (rows.lowerBound + offset)..<(rows.upperBound + offset), worker: worker)
  }
}
