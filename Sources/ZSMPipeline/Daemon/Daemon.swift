import Foundation
import ZSMKernels
import ZSMModel
import ZSMVideo

/// The headless pipeline for systemd (`Type=notify`): source -> windows -> network -> sink.
///
/// - READY=1 once the model is loaded and the source is open; STATUS= after every window;
///   WATCHDOG=1 from the pipeline loop after every input frame and window (so a stalled
///   network trips the watchdog); STOPPING=1 before exiting.
/// - SIGTERM/SIGINT: the current window is finished, every frame read gets its outputs, the
///   sink is flushed and closed, exit status 0. SIGHUP: the configuration is reloaded at the
///   next frame (the model only if its path or thread count changed); a clip in progress ends
///   there and a new one starts with the next frame. An invalid new configuration is
///   reported and the old one kept.
/// - Metrics (Prometheus text) are rewritten atomically after every window.
/// Signals are seen between frames: a source that delivers nothing keeps the daemon waiting
/// for its next frame (systemd's TimeoutStopSec bounds that).
public final class Daemon {
  let configPath: String
  let signals: SignalWatcher
  let notifier: SystemdNotifier
  let log: (String) -> Void
  var config: DaemonConfig
  var network: ZSMNetwork?
  var loadedModel: (path: String, threads: Int)?
  public private(set) var metrics = DaemonMetrics()
  var lastWatchdog = 0.0

  /// Loads and validates the configuration. Creates the signal thread first, so that every
  /// thread made later (the worker pool's) inherits the blocked signals.
  public init(configPath: String, environment: [String: String], log: @escaping (String) -> Void) throws {
    signals = SignalWatcher()
    notifier = SystemdNotifier(environment: environment)
    self.configPath = configPath
    self.log = log
    config = try DaemonConfig.load(path: configPath)
  }

  /// Runs until the source ends or SIGTERM; returns the process exit status.
  public func run() throws -> Int32 {
    try loadNetworkIfNeeded()
    let reader: Y4MReader
    do { reader = try Y4MReader(path: config.source.path ?? "-") } catch { throw PipelineError("\(error)") }
    metrics.sourceUp = true
    var ready = false
    var fileSequence = 0
    while true {
      let h = reader.header
      var outHeader = h
      outHeader.width = 4 * h.width
      outHeader.height = 4 * h.height
      outHeader.interlacing = "p"
      if config.slowmo != true { outHeader.frameRate = (2 * h.frameRate.0, h.frameRate.1) }
      let sink = try FrameSink(config.sink, header: outHeader, lastSequence: fileSequence)
      defer { fileSequence = sink.sequence }
      guard let network else { throw PipelineError("no network") }
      let upscaler = ClipUpscaler(
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
          shouldStop: { [signals] in
            self.pingWatchdog()
            return signals.stopRequested || signals.reloadPending
          },
          progress: { p in
            self.metrics.framesIn = base.framesIn + p.framesRead
            self.metrics.framesOut = base.framesOut + p.framesWritten
            if p.windowSeconds > 0 {
              self.metrics.windows += 1
              self.metrics.observeWindow(seconds: p.windowSeconds)
              for (stage, seconds) in network.lastRunStageSeconds {
                self.metrics.stageSeconds[stage, default: 0] += seconds
              }
            }
            self.pingWatchdog(force: true)
            self.notifier.notify(
              "STATUS=\(self.metrics.framesIn) frames in, \(self.metrics.framesOut) out, last window "
                + String(format: "%.2f s", p.windowSeconds))
            self.writeMetrics()
          })
      } catch {
        try? sink.close()
        metrics.sourceUp = false
        writeMetrics()
        notifier.notify("STOPPING=1")
        throw error
      }
      try sink.close()
      if let summary {
        metrics.framesIn = base.framesIn + summary.framesRead
        metrics.framesOut = base.framesOut + summary.framesWritten
      }
      if signals.stopRequested {
        log("stopping on signal: \(metrics.framesIn) frames in, \(metrics.framesOut) out")
        break
      }
      if signals.takeReloadRequest() {
        notifier.notify("RELOADING=1")
        do {
          config = try DaemonConfig.load(path: configPath)
          try loadNetworkIfNeeded()
          log("configuration reloaded from \(configPath)")
        } catch { log("reload failed, keeping the previous configuration: \(error)") }
        continue
      }
      log("source ended: \(metrics.framesIn) frames in, \(metrics.framesOut) out")
      metrics.sourceUp = false
      break
    }
    writeMetrics()
    notifier.notify("STOPPING=1")
    return 0
  }

  func loadNetworkIfNeeded() throws {
    let threads = config.threads ?? ProcessInfo.processInfo.activeProcessorCount
    if let loadedModel, loadedModel.path == config.model, loadedModel.threads == threads { return }
    do {
      let (stateDict, modelConfig) = try StateDict.loadZSM(path: config.model)
      network = try ZSMNetwork(stateDict: stateDict, config: modelConfig, threads: threads)
    } catch let error as CheckpointError {
      throw PipelineError(error.description)
    } catch let error as ModelError {
      throw PipelineError("\(config.model): \(error.description)")
    }
    loadedModel = (config.model, threads)
  }

  func pingWatchdog(force: Bool = false) {
    guard let interval = notifier.watchdogInterval else { return }
    let now = monotonicSecondsPipeline()
    if force || now - lastWatchdog >= interval / 4 {
      notifier.notify("WATCHDOG=1")
      lastWatchdog = now
    }
  }

  func writeMetrics() {
    guard let path = config.metrics else { return }
    metrics.arenaBytes = network?.arenaBytes ?? 0
    do { try metrics.write(to: path) } catch { log("\(error)") }
  }
}
