import Foundation
import ZSMKernels
import ZSMModel
import ZSMRuntime
import ZSMVideo

/// The headless pipeline for systemd (`Type=notify`): source -> windows -> network -> sink.
///
/// - READY=1 once the model is loaded and the source is open (a FIFO: open and waiting for its
///   writer); STATUS= after every window;
///   WATCHDOG=1 from the pipeline loop after every input frame and window (so a stalled
///   network trips the watchdog); STOPPING=1 before exiting.
/// - SIGTERM/SIGINT: the current window is finished, every frame read gets its outputs, the
///   sink is flushed and closed, exit status 0. SIGHUP: the configuration is reloaded at the
///   next frame (the model only if its path or thread count changed); a clip in progress ends
///   there and a new one starts with the next frame. An invalid new configuration is
///   reported and the old one kept.
/// - Metrics (Prometheus text) are rewritten atomically after every window.
/// - The end of a y4m source is a clean exit 0 only when the source is finite (`"finite"`, by
///   default a regular file); the end of a FIFO or a pipe is a failure, exit status 1, so that
///   systemd's `Restart=on-failure` restarts the daemon.
/// - Under systemd, relative paths are in `$STATE_DIRECTORY` / `$RUNTIME_DIRECTORY`
///   (`ServiceDirectories`), and a missing source in the runtime directory is made a FIFO.
/// Signals are seen between frames: a source that delivers nothing keeps the daemon waiting
/// for its next frame (systemd's TimeoutStopSec bounds that).
public final class Daemon {
  let configPath: String
  let directories: ServiceDirectories
  let signals: SignalWatcher
  let notifier: SystemdNotifier
  let log: (String) -> Void
  var config: DaemonConfig
  var network: ZSMNetwork?
  /// What the loaded network was made from (a reload that changes none of it keeps it).
  struct LoadedModel: Equatable {
    let path: String
    let threads: Int
    let precision: Precision
    let calibration: String?
  }
  var loadedModel: LoadedModel?
  public private(set) var metrics = DaemonMetrics()
  var lastWatchdog = 0.0
  var status = TextBuffer(capacity: 256)
  var metricsFile: (path: String, file: MetricsFile)?
  var metricsFailed = false
  /// Called after each window, once metrics and notifications are out (for embedding and tests).
  public var windowObserver: ((DaemonMetrics) -> Void)?

  /// Loads and validates the configuration. Creates the signal thread first, so that every
  /// thread made later (the worker pool's) inherits the blocked signals.
  public init(configPath: String, environment: [String: String], log: @escaping (String) -> Void) throws {
    signals = SignalWatcher()
    notifier = SystemdNotifier(environment: environment)
    self.configPath = configPath
    self.log = log
    directories = ServiceDirectories(environment: environment)
    config = try DaemonConfig.load(path: configPath, directories: directories)
  }

  deinit { status.deallocate() }

  /// Runs until the source ends or SIGTERM; returns the process exit status: 0 after SIGTERM or
  /// the end of a finite source, 1 after the end of a source that is not finite.
  public func run() throws -> Int32 {
    try loadNetworkIfNeeded()
    if config.source.type == "camera" { return try runCamera() }
    let stopOrReload: () -> Bool = { [signals] in
      self.pingWatchdog()
      return signals.stopRequested || signals.reloadPending
    }
    let sourcePath = config.source.path ?? "-"
    try makeSourceFIFOIfNeeded(sourcePath)
    let sourceIsRegularFile = isRegularFile(sourcePath)
    var waitingForWriter = false
    // A FIFO without a writer: SIGTERM ends the wait (nil: exit 0, nothing more was read). The
    // source is open and only its producer is missing, so the service is ready (else systemd's
    // start would time out, and Restart= restart it, for as long as no producer runs).
    func openSource() throws -> Y4MReader? {
      let reader: Y4MReader
      do {
        reader = try Y4MReader(
          path: sourcePath,
          stopWaiting: { [signals] in
            if !waitingForWriter {
              waitingForWriter = true
              self.log("ready: waiting for a writer on \(sourcePath)")
              self.notifier.notify("READY=1")
              self.notifier.notify(text: "STATUS=waiting for a writer on \(sourcePath)")
            }
            self.pingWatchdog()
            return signals.stopRequested
          })
      } catch {
        if signals.stopRequested { return nil }
        throw PipelineError("\(error)")
      }
      // SIGTERM/SIGHUP while the source is idle ends the wait (as an end of stream).
      reader.stopWaiting = stopOrReload
      metrics.sourceUp = true
      return reader
    }
    guard var reader = try openSource() else {
      log("stopping on signal before the source had a writer")
      notifier.notify("STOPPING=1")
      return 0
    }
    var ready = false
    // The sink stays open across reloads that change neither it nor the output stream, so a
    // SIGHUP never truncates or restarts it; a changed one is reopened in append mode.
    var sink: FrameSink?
    var sinkKey: (DaemonConfig.Sink, Y4MHeader)?
    var fileSequence = 0
    var status: Int32 = 0
    defer { try? sink?.close() }
    while true {
      let h = reader.header
      let outHeader: Y4MHeader
      do { outHeader = try upscaledHeader(of: h, slowmo: config.slowmo == true) } catch {
        throw PipelineError("\(reader.path): \(error)")
      }
      if let key = sinkKey, key.0 == config.sink, key.1 == outHeader, sink != nil {
      } else {
        if let old = sink {
          try old.close()
          fileSequence = old.sequence
        }
        sink = nil
        sink = try FrameSink(
          config.sink, header: outHeader, lastSequence: fileSequence,
          stopWaiting: { [signals] in signals.stopRequested })
        sinkKey = (config.sink, outHeader)
      }
      guard let sink else { throw PipelineError("no sink") }
      guard let network else { throw PipelineError("no network") }
      let upscaler = try ClipUpscaler(
        network: network, windowSize: config.window ?? 4, width: h.width, height: h.height,
        decode: h.height >= 720 ? .bt709 : .bt601, encode: outHeader.height >= 720 ? .bt709 : .bt601)
      notifier.notify("READY=1")  // also after a reload (systemd expects it after RELOADING=1)
      if !ready {
        ready = true
        log("ready: \(network.config), \(h.width)x\(h.height) from \(config.source.path ?? "-")")
      }
      notifier.notify("STATUS=waiting for frames")
      let base = (framesIn: metrics.framesIn, framesOut: metrics.framesOut)
      var summary: UpscaleSummary?
      do {
        summary = try upscaler.run(
          reader: reader, outputFrameBytes: outHeader.frameByteCount, encodeHeader: outHeader,
          write: { try sink.write($0) },
          shouldStop: stopOrReload, dropsLoneFrame: true,
          progress: { p in
            self.metrics.framesIn = base.framesIn + p.framesRead
            self.metrics.framesOut = base.framesOut + p.framesWritten
            self.windowDone(seconds: p.windowSeconds, network: network)
          })
      } catch {
        metrics.sourceUp = false
        writeMetrics()
        notifier.notify("STOPPING=1")
        throw error
      }
      if let summary {
        metrics.framesIn = base.framesIn + summary.framesRead
        metrics.framesOut = base.framesOut + summary.framesWritten
        if summary.framesDropped > 0 {
          metrics.framesDropped += summary.framesDropped
          log("dropped \(summary.framesDropped) frame: a clip cut after one frame has no output (it needs two)")
        }
      }
      if signals.stopRequested {
        log("stopping on signal: \(metrics.framesIn) frames in, \(metrics.framesOut) out")
        break
      }
      if signals.takeReloadRequest() {
        reload()
        continue
      }
      metrics.sourceUp = false
      if config.source.reopen == true {
        // "reopen": wait for the source's next writer (a FIFO) or read it again (a file). The
        // old descriptor is closed first: a writer that came before it would join the old pipe.
        reader.close()
        writeMetrics()
        guard let next = try openSource() else {
          log("stopping on signal while the source was away")
          break
        }
        reader = next
        log("source reopened: \(reader.path)")
        continue
      }
      let counts = "\(metrics.framesIn) frames in, \(metrics.framesOut) out"
      if config.source.finite ?? sourceIsRegularFile {
        log("source ended: \(counts)")
      } else {
        log(
          "source ended: \(counts); \(reader.path) is not a finite source (\"finite\": true in \"source\" says it"
            + " is), so its end is a failure: exit status 1 (systemd's Restart=on-failure restarts the daemon)")
        status = 1
      }
      break
    }
    try sink?.close()
    sink = nil
    writeMetrics()
    notifier.notify("STOPPING=1")
    return status
  }

  /// A source in the runtime directory (the daemon's own, made afresh by systemd at each start)
  /// that does not exist yet is made a FIFO, readable and writable by this user only (root's
  /// producers write to it; another user's producer gets an absolute path to a FIFO it made).
  func makeSourceFIFOIfNeeded(_ path: String) throws {
    guard directories.ownsSource(path) else { return }
    var info = stat()
    guard lstat(path, &info) != 0 && errno == ENOENT else { return }
    guard mkfifo(path, 0o600) == 0 || errno == EEXIST else {
      throw PipelineError("\(path): cannot make the source FIFO: \(String(cString: strerror(errno)))")
    }
    log("made the source FIFO \(path)")
  }

  /// Whether the source is a regular file (standard input: what it is redirected from).
  func isRegularFile(_ path: String) -> Bool {
    var info = stat()
    let ok = path == "-" ? fstat(0, &info) == 0 : stat(path, &info) == 0
    return ok && info.st_mode & S_IFMT == S_IFREG
  }

  /// Camera source: the live pipeline (newest-frames windows, output paced at the output rate)
  /// into the configured sink. The camera code reopens a camera that goes away ("no signal"),
  /// so the daemon keeps running; the watchdog is fed while it waits for frames too.
  func runCamera() throws -> Int32 {
    var ready = false
    var fileSequence = 0
    while true {
      let source = config.source
      let (w, h) = config.cameraSize(source.size ?? "320x180") ?? (320, 180)
      let fourcc = FourCC((source.format ?? "YUYV").uppercased()) ?? .yuyv
      let camera: V4L2Camera
      do {
        camera = try V4L2Camera(
          CameraConfiguration(
            path: source.device ?? "/dev/video0", fourcc: fourcc, width: w, height: h, framesPerSecond: source.fps))
      } catch { throw PipelineError("\(error)") }
      defer { camera.stop() }
      guard let network else { throw PipelineError("no network") }
      // The sink, created once the output size is known.
      var present: (PlanarRGB) -> Void = { _ in }
      var display: KMSDisplay?
      var sink: FrameSink?
      var encodeBuffer: UnsafeMutableRawBufferPointer?
      let downscale = max(1, source.downscale ?? 4)
      let nw = max(1, (camera.format?.width ?? w) / downscale)
      let nh = max(1, (camera.format?.height ?? h) / downscale)
      let fps = Int((camera.format?.framesPerSecond ?? 25).rounded())
      switch config.sink.type {
      case "display":
        do {
          let screen = try KMSDisplay(
            cardPath: config.sink.card, connectorName: config.sink.connector, mode: config.sink.mode)
          display = screen
          present = { frame in try? screen.present(frame, scaling: .center) }
        } catch { throw PipelineError("\(error)") }
      case "y4m", "y4m-rotate":
        let header: Y4MHeader
        do {
          header = try upscaledHeader(
            of: Y4MHeader(width: nw, height: nh, frameRate: (fps, 1)), slowmo: config.slowmo == true)
        } catch { throw PipelineError("camera: \(error)") }
        let frameSink = try FrameSink(config.sink, header: header, lastSequence: fileSequence)
        sink = frameSink
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: header.frameByteCount, alignment: 64)
        encodeBuffer = buffer
        let log = self.log
        present = { frame in
          header.convertFromRGB(frame, to: buffer, matrix: header.height >= 720 ? .bt709 : .bt601)
          do { try frameSink.write(UnsafeRawBufferPointer(buffer)) } catch { log("sink: \(error)") }
        }
      default:
        break
      }
      defer {
        display?.close()
        try? sink?.close()
        if let sink { fileSequence = sink.sequence }
        encodeBuffer?.deallocate()
      }
      let pipeline = try LivePipeline(
        network: network, camera: camera, windowSize: config.window ?? 2, downscale: downscale,
        slowmo: config.slowmo == true, present: present)
      notifier.notify("READY=1")
      if !ready {
        ready = true
        log("ready: \(network.config), camera \(camera.format.map { "\($0)" } ?? camera.path), network \(nw)x\(nh)")
      }
      metrics.sourceUp = camera.statistics.online
      writeMetrics()
      let base = (framesIn: metrics.framesIn, framesOut: metrics.framesOut, dropped: metrics.framesDropped)
      let final = try pipeline.run(
        outputLimit: nil,
        shouldStop: { [signals] in
          self.pingWatchdog()
          return signals.stopRequested || signals.reloadPending
        },
        report: { _ in },
        afterWindow: { seconds, s in
          self.metrics.framesIn = base.framesIn + s.framesCaptured
          self.metrics.framesOut = base.framesOut + s.framesPresented
          self.metrics.framesDropped = base.dropped + s.framesDropped
          self.metrics.sourceUp = camera.statistics.online
          self.windowDone(seconds: seconds, network: network)
        })
      metrics.framesIn = base.framesIn + final.framesCaptured
      metrics.framesOut = base.framesOut + final.framesPresented
      metrics.framesDropped = base.dropped + final.framesDropped
      if signals.stopRequested {
        log("stopping on signal: \(metrics.framesIn) frames captured, \(metrics.framesOut) shown")
        break
      }
      if signals.takeReloadRequest() { reload() }
    }
    metrics.sourceUp = false
    writeMetrics()
    notifier.notify("STOPPING=1")
    return 0
  }

  func loadNetworkIfNeeded() throws {
    let threads = Limits.workerThreads(requested: config.threads ?? Limits.maximumThreads)
    let precision = Precision(rawValue: config.precision ?? "fp32") ?? .fp32
    let model = try config.model ?? ShippedModel.path()
    let key = LoadedModel(path: model, threads: threads, precision: precision, calibration: config.calibration)
    if loadedModel == key { return }
    if config.model == nil { log("model: the shipped ZSM-Lite, \(model) (\"model\" in the configuration for another)") }
    do {
      network = try loadZSMNetwork(
        model: model, threads: threads, precision: precision, calibration: config.calibration)
    } catch {
      throw PipelineError(error.description)
    }
    loadedModel = key
  }

  func pingWatchdog(force: Bool = false) {
    guard let interval = notifier.watchdogInterval else { return }
    let now = monotonicSeconds()
    if force || now - lastWatchdog >= interval / 4 {
      notifier.notify("WATCHDOG=1")
      lastWatchdog = now
    }
  }

  /// SIGHUP: reads the configuration again and applies it from the next frame. A file that does
  /// not load, or that changes the source type (the loop that runs is the source's), is
  /// reported and the running configuration kept.
  func reload() {
    notifier.notify("RELOADING=1")
    do {
      let new = try DaemonConfig.load(path: configPath, directories: directories)
      guard new.source.type == config.source.type else {
        throw PipelineError("a reload cannot change the source type (\(config.source.type) -> \(new.source.type))")
      }
      let previous = config
      config = new
      do { try loadNetworkIfNeeded() } catch {
        config = previous
        throw error
      }
      MemoryLimit.releaseFreeHeap()  // the previous network's buffers
      log("configuration reloaded from \(configPath)")
    } catch { log("reload failed, keeping the previous configuration: \(error)") }
  }

  /// After every window (both sources): latency histogram, stage times, watchdog, STATUS,
  /// metrics file, observer. `seconds` is 0 for a window whose outputs were all skipped.
  func windowDone(seconds: Double, network: ZSMNetwork) {
    if seconds > 0 {
      metrics.windows += 1
      metrics.observeWindow(seconds: seconds)
      for stage in DaemonMetrics.stages {
        metrics.stageSeconds[stage.rawValue] += network.lastRunSeconds(of: stage)
      }
    }
    pingWatchdog(force: true)
    notifyStatus(windowSeconds: seconds)
    writeMetrics()
    windowObserver?(metrics)
  }

  /// STATUS= line after a window, formatted without allocating.
  func notifyStatus(windowSeconds: Double) {
    guard notifier.isActive else { return }
    status.clear()
    status.append("STATUS=")
    status.append(metrics.framesIn)
    status.append(" frames in, ")
    status.append(metrics.framesOut)
    status.append(" out, ")
    status.append(metrics.framesDropped)
    status.append(" dropped, last window ")
    status.append(windowSeconds)
    status.append(" s")
    notifier.notify(status)
  }

  /// Rewrites the metrics file (atomically, without allocating once the file is open).
  func writeMetrics() {
    guard let path = config.metrics else { return }
    if metricsFile?.path != path { metricsFile = (path, MetricsFile(path: path)) }
    metrics.arenaBytes = network?.arenaBytes ?? 0
    if let file = metricsFile?.file, let reason = file.write(metrics), !metricsFailed {
      metricsFailed = true
      log("\(path): cannot write metrics: \(reason) (it must be a regular file in a writable directory)")
    }
  }
}
