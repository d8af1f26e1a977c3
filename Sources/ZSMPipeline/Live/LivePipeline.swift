import Foundation
import ZSMKernels
import ZSMModel
import ZSMRuntime
import ZSMVideo

/// Counters of a live run, reported every second.
public struct LiveStatistics: Sendable {
  public var framesCaptured = 0
  /// Input frames dropped: by the camera (sequence gaps) and by the drop policy.
  public var framesDropped = 0
  public var noSignalEvents = 0
  public var windows = 0
  public var framesPresented = 0
  /// Output frames not shown because a newer window's frames arrived first.
  public var framesSkipped = 0
  /// Capture of a window's newest input frame to the display of its last output, seconds.
  public var latency = 0.0

  public init() {}
}

/// Camera -> windows of N frames -> network -> display, with bounded queues.
///
/// Drop policy: the capture thread keeps only the newest `windowSize` frames. When the network
/// is slower than the camera, older frames are dropped (counted) instead of queueing, so latency
/// stays at about one window plus one network run. A window shares its first frame with the
/// previous window when no frame was dropped between them (then its first output, already shown,
/// is skipped); otherwise it starts afresh from the newest frames.
///
/// Pacing: output frames are shown at the output rate (twice the camera's, or the camera's with
/// `slowmo`); when a window's outputs are ready before the previous ones are all shown, the rest
/// of the previous ones is skipped (counted), so the display never falls behind.
public final class LivePipeline: @unchecked Sendable {
  let network: ZSMNetwork
  let camera: V4L2Camera
  /// Receives every output frame to show, on the presenter thread.
  let present: (PlanarRGB) -> Void
  let windowSize: Int
  let downscale: Int
  let outputInterval: Double
  let width: Int
  let height: Int
  let cameraWidth: Int
  let cameraHeight: Int

  private let lock = NSCondition()
  private var ring: [UnsafeMutablePointer<Float>]
  private var ringSequence: [Int]
  private var ringTime: [Double]
  private var ringCount = 0
  private var ringHead = 0  // slot of the oldest frame
  private var nextSequence = 0
  private var statistics = LiveStatistics()
  private var stopping = false
  /// The capture, presenter and reporter threads still running (under `lock`): `run` waits
  /// for 0 before it returns. (Polling `Thread.isExecuting` would not do: it reads a plain
  /// field, which orders nothing, so the caller could touch the camera while the capture
  /// thread's last calls are still in flight, as ThreadSanitizer showed.)
  private var threadsRunning = 0

  // Presenter: the outputs of the latest window, shown one by one.
  private let presenterLock = NSCondition()
  private var batches: [UnsafeMutablePointer<Float>]
  private var batchReady: Int?  // index of a batch waiting to be shown
  private var presenting: Int?  // index of the batch being shown
  private var batchFirst = 0
  private var batchCount = 0
  private var batchCaptureTime = 0.0

  /// - Parameter present: called with each output frame at its time (a display's `present`, an
  ///   encoder, or nothing); it runs on the presenter thread.
  public init(
    network: ZSMNetwork, camera: V4L2Camera, windowSize: Int, downscale: Int, slowmo: Bool,
    present: @escaping (PlanarRGB) -> Void
  ) throws {
    guard let format = camera.format else { throw PipelineError("\(camera.path): no format negotiated") }
    self.network = network
    self.camera = camera
    self.present = present
    self.windowSize = windowSize
    self.downscale = max(1, downscale)
    cameraWidth = format.width
    cameraHeight = format.height
    width = max(1, format.width / self.downscale)
    height = max(1, format.height / self.downscale)
    let fps = max(1, format.framesPerSecond)
    outputInterval = slowmo ? 1 / fps : 1 / (2 * fps)
    let frame = 3 * width * height
    ring = (0..<windowSize).map { _ in .allocate(capacity: frame) }
    ringSequence = [Int](repeating: -1, count: windowSize)
    ringTime = [Double](repeating: 0, count: windowSize)
    // Three output buffers: one being shown, one waiting, one being computed.
    batches = (0..<3).map { _ in .allocate(capacity: (2 * windowSize - 1) * 16 * frame) }
    try network.prepare(frames: windowSize, height: height, width: width)
  }

  deinit {
    for p in ring { p.deallocate() }
    for p in batches { p.deallocate() }
  }

  /// The network's input size (the camera's divided by `downscale`).
  public var networkSize: (width: Int, height: Int) { (width, height) }

  /// Output frames per second.
  public var outputFramesPerSecond: Double { 1 / outputInterval }

  /// Runs until `shouldStop` says so or `outputLimit` frames were shown. `report` gets the
  /// counters every second, from a thread of its own (the network may hold this one for longer);
  /// the final counters are returned.
  /// `afterWindow` is called on this thread after each window with its wall time (seconds) and
  /// the counters (the daemon's watchdog and metrics).
  public func run(
    outputLimit: Int?, shouldStop: () -> Bool, report: @escaping @Sendable (LiveStatistics) -> Void,
    afterWindow: (Double, LiveStatistics) -> Void = { _, _ in }
  ) throws -> LiveStatistics {
    let capture = Thread { [unowned self] in
      defer { self.threadExited() }
      self.captureLoop()
    }
    let presenter = Thread { [unowned self] in
      defer { self.threadExited() }
      self.presentLoop()
    }
    let reporter = Thread { [unowned self] in
      defer { self.threadExited() }
      while true {
        usleep(1_000_000)
        self.lock.lock()
        let done = self.stopping
        let s = self.statistics
        self.lock.unlock()
        if done { return }
        report(s)
      }
    }
    lock.lock()
    threadsRunning = 3
    lock.unlock()
    capture.start()
    presenter.start()
    reporter.start()
    defer {
      lock.lock()
      stopping = true
      lock.broadcast()
      lock.unlock()
      presenterLock.lock()
      presenterLock.broadcast()
      presenterLock.unlock()
      lock.lock()
      while threadsRunning > 0 { lock.wait() }
      lock.unlock()
    }
    let frame = 3 * width * height
    let input = UnsafeMutablePointer<Float>.allocate(capacity: windowSize * frame)
    defer { input.deallocate() }
    var previousLast = -1
    while !shouldStop() {
      if let outputLimit, snapshot().framesPresented >= outputLimit { break }
      // Wait for a full window of the newest frames.
      lock.lock()
      while ringCount < windowSize && !stopping && !shouldStop() {
        _ = lock.wait(until: Date().addingTimeInterval(0.2))
      }
      if ringCount < windowSize {
        lock.unlock()
        continue
      }
      for i in 0..<windowSize {
        (input + i * frame).update(from: ring[(ringHead + i) % windowSize], count: frame)
      }
      let first = ringSequence[ringHead]
      let last = ringSequence[(ringHead + windowSize - 1) % windowSize]
      let captureTime = ringTime[(ringHead + windowSize - 1) % windowSize]
      // Keep the last frame: the next window starts with it.
      ringHead = (ringHead + windowSize - 1) % windowSize
      ringCount = 1
      lock.unlock()

      presenterLock.lock()
      let busy = (presenting ?? -1, batchReady ?? -1)
      let nextBatch = (0..<3).first { (i: Int) -> Bool in i != busy.0 && i != busy.1 } ?? 0
      presenterLock.unlock()
      let windowStart = monotonicSeconds()
      network.run(input: input, output: batches[nextBatch])
      let skipFirst = first == previousLast
      previousLast = last
      presenterLock.lock()
      if batchReady != nil { statisticsAdd(skipped: batchCount) }
      batchReady = nextBatch
      batchFirst = skipFirst ? 1 : 0
      batchCount = 2 * windowSize - 1 - batchFirst
      batchCaptureTime = captureTime
      presenterLock.broadcast()
      presenterLock.unlock()
      lock.lock()
      statistics.windows += 1
      lock.unlock()
      afterWindow(monotonicSeconds() - windowStart, snapshot())
    }
    // Let the presenter show what it has, then stop.
    let deadline = monotonicSeconds() + Double(2 * windowSize) * outputInterval + 0.5
    while monotonicSeconds() < deadline {
      presenterLock.lock()
      let idle = batchReady == nil
      presenterLock.unlock()
      if idle { break }
      usleep(10_000)
    }
    return snapshot()
  }

  public func snapshot() -> LiveStatistics {
    lock.lock()
    defer { lock.unlock() }
    return statistics
  }

  private func threadExited() {
    lock.lock()
    threadsRunning -= 1
    lock.broadcast()
    lock.unlock()
  }

  private func statisticsAdd(skipped: Int) {
    lock.lock()
    statistics.framesSkipped += skipped
    lock.unlock()
  }

  // MARK: - Capture thread

  private func captureLoop() {
    let coefficients = YCbCrCoefficients(cameraHeight >= 720 ? .bt709 : .bt601, .limited)
    let full = UnsafeMutablePointer<Float>.allocate(capacity: 3 * cameraWidth * cameraHeight)
    let small = UnsafeMutablePointer<Float>.allocate(capacity: 3 * width * height)
    defer {
      full.deallocate()
      small.deallocate()
    }
    while true {
      lock.lock()
      let done = stopping
      lock.unlock()
      if done { return }
      switch camera.nextFrame(timeoutMilliseconds: 500) {
      case .frame(let captured):
        let rgb = PlanarRGB(packed: full, width: cameraWidth, height: cameraHeight)
        guard captured.convert(to: rgb, coefficients: coefficients) else { continue }
        boxDownscale(full, cameraWidth, cameraHeight, into: small)
        let time = monotonicSeconds()
        lock.lock()
        statistics.framesCaptured += 1
        statistics.framesDropped += captured.droppedBefore
        if ringCount == windowSize {
          ringHead = (ringHead + 1) % windowSize  // drop the oldest
          ringCount -= 1
          statistics.framesDropped += 1
        }
        let slot = (ringHead + ringCount) % windowSize
        ring[slot].update(from: small, count: 3 * width * height)
        ringSequence[slot] = nextSequence
        ringTime[slot] = time
        nextSequence += 1
        ringCount += 1
        lock.broadcast()
        lock.unlock()
      case .noSignal:
        lock.lock()
        statistics.noSignalEvents += 1
        // The frames before the loss cannot share a window with the frames after it.
        ringCount = 0
        nextSequence += 1
        lock.unlock()
      }
    }
  }

  /// Mean of each `downscale` x `downscale` block (planar RGB).
  private func boxDownscale(
    _ source: UnsafeMutablePointer<Float>, _ w: Int, _ h: Int, into destination: UnsafeMutablePointer<Float>
  ) {
    let k = downscale
    let norm = 1 / Float(k * k)
    for c in 0..<3 {
      let plane = source + c * w * h
      let out = destination + c * width * height
      for y in 0..<height {
        for x in 0..<width {
          var s: Float = 0
          for dy in 0..<k { for dx in 0..<k { s += plane[(y * k + dy) * w + x * k + dx] } }
          out[y * width + x] = s * norm
        }
      }
    }
  }

  // MARK: - Presenter thread

  private func presentLoop() {
    let outFrame = 16 * 3 * width * height
    while true {
      presenterLock.lock()
      while batchReady == nil {
        lock.lock()
        let done = stopping
        lock.unlock()
        if done {
          presenterLock.unlock()
          return
        }
        _ = presenterLock.wait(until: Date().addingTimeInterval(0.1))
      }
      let batch = batchReady!
      let first = batchFirst
      let count = batchCount
      let captureTime = batchCaptureTime
      batchReady = nil
      presenting = batch
      presenterLock.unlock()
      defer {
        presenterLock.lock()
        presenting = nil
        presenterLock.unlock()
      }
      var due = monotonicSeconds()
      for i in 0..<count {
        presenterLock.lock()
        let newer = batchReady != nil
        presenterLock.unlock()
        if newer {
          statisticsAdd(skipped: count - i)
          break
        }
        let frame = PlanarRGB(packed: batches[batch] + (first + i) * outFrame, width: 4 * width, height: 4 * height)
        present(frame)
        let shown = monotonicSeconds()
        lock.lock()
        statistics.framesPresented += 1
        statistics.latency = shown - captureTime
        lock.unlock()
        due += outputInterval
        let wait = due - monotonicSeconds()
        if wait > 0 { usleep(useconds_t(wait * 1e6)) }
      }
    }
  }
}
