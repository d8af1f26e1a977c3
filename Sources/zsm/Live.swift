import ArgumentParser
import Foundation
import ZSMModel
import ZSMPipeline
import ZSMVideo

struct Live: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Camera -> network -> display, live.",
    discussion: helpText(
      """
      Captures from a V4L2 camera, runs the network on windows of --window frames and shows
      the 4x, 2x-rate result on a KMS display (run it on a console, not under a desktop that
      holds the display). The network is far slower than real time on a CPU at camera sizes:
      --downscale K averages KxK camera pixels into one network input pixel, so choose the
      camera size and K for the board (e.g. 320x180 / 4 -> 80x45 in, 320x180 out).

      Queues are bounded: the capture thread keeps only the newest --window frames, so when the
      network is slower than the camera older frames are dropped (counted) instead of adding
      latency; output frames are shown at the output rate, and a window's outputs that are
      overtaken by the next window's are skipped (counted). Statistics every second on stderr:
      capture fps, output fps, dropped and skipped frames, latency. A camera that goes away is
      reported as no signal and reopened; Ctrl-C or SIGTERM stops.

        zsm live --model M.pth --camera /dev/video0 --size 320x180 --downscale 4
      """))

  @Option(help: "Checkpoint (.pth); default: the shipped ZSM-Lite, Models/zsm-lite.pth.")
  var model: String?

  @Option(help: "V4L2 camera device.")
  var camera: String = "/dev/video0"

  @Option(help: "Camera frame size WxH.")
  var size: String = "320x180"

  @Option(help: "Camera pixel format: yuyv, nv12, yu12 or grey.")
  var format: String = "yuyv"

  @Option(help: "Camera frame rate (the camera's default if not given).")
  var fps: Int?

  @Option(help: "DRM card (the first with a connected display if not given).")
  var display: String?

  @Option(help: "Connector name, e.g. HDMI-A-1 (the first connected if not given).")
  var connector: String?

  @Option(help: "Display mode WxH (the preferred one if not given).")
  var mode: String?

  @Option(help: "Average KxK camera pixels into one network input pixel.")
  var downscale: Int = 4

  @Option(help: "Input frames per window.")
  var window: Int = 2

  @OptionGroup var precision: PrecisionOptions

  @Option(help: "Worker threads.")
  var threads: Int = ProcessInfo.processInfo.activeProcessorCount

  @Option(help: "Stop after this many output frames were shown.")
  var frames: Int?

  @Flag(help: "Show output frames at the camera's rate (2x slow motion).")
  var slowmo = false

  func run() throws {
    let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
    guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { throw ValidationError("--size must be WxH") }
    guard window >= 2 else { throw ValidationError("--window must be at least 2") }
    guard downscale >= 1 else { throw ValidationError("--downscale must be at least 1") }
    guard let fourcc = FourCC(format.uppercased()) ?? FourCC(format) else {
      throw ValidationError("--format must be a V4L2 fourcc such as yuyv or nv12, got '\(format)'")
    }
    let signals = SignalWatcher()  // before any thread, so they all inherit the blocked signals
    let network = try loadNetwork(path: try resolvedModel(model), threads: threads, precision: precision)
    let cam: V4L2Camera
    let screen: KMSDisplay
    do {
      cam = try V4L2Camera(
        CameraConfiguration(path: camera, fourcc: fourcc, width: parts[0], height: parts[1], framesPerSecond: fps))
      screen = try KMSDisplay(cardPath: display, connectorName: connector, mode: mode)
    } catch { throw CLIError("\(error)") }
    defer {
      screen.close()
      cam.stop()
    }
    let pipeline = try LivePipeline(
      network: network, camera: cam, windowSize: window, downscale: downscale, slowmo: slowmo
    ) { frame in try? screen.present(frame, scaling: .center) }
    let n = pipeline.networkSize
    note(
      "live: \(cam.format.map { "\($0)" } ?? camera) -> network \(n.width)x\(n.height) (\(network.config)) -> "
        + "\(4 * n.width)x\(4 * n.height) on \(screen.path) \(screen.mode)")
    let rates = RateTracker()
    let final = try pipeline.run(outputLimit: frames, shouldStop: { signals.stopRequested }) { s in
      let (capture, output) = rates.update(s)
      note(
        "live: capture \(fmt(capture, 1)) fps, output \(fmt(output, 1)) fps, dropped \(s.framesDropped), "
          + "skipped \(s.framesSkipped), no-signal \(s.noSignalEvents), windows \(s.windows), latency "
          + "\(fmt(s.latency, 2)) s")
    }
    note(
      "live: done: \(final.framesCaptured) frames captured, \(final.framesDropped) dropped, \(final.windows) windows, "
        + "\(final.framesPresented) presented, \(final.framesSkipped) skipped, \(final.noSignalEvents) no-signal")
  }
}

/// Frames per second between consecutive reports.
final class RateTracker: @unchecked Sendable {
  private var last = LiveStatistics()
  private var lastTime = Date()

  func update(_ s: LiveStatistics) -> (capture: Double, output: Double) {
    let now = Date()
    let dt = max(now.timeIntervalSince(lastTime), 1e-3)
    defer {
      last = s
      lastTime = now
    }
    return (Double(s.framesCaptured - last.framesCaptured) / dt, Double(s.framesPresented - last.framesPresented) / dt)
  }
}
