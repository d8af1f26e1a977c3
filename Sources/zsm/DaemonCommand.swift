import ArgumentParser
import Foundation
import ZSMPipeline
import ZSMVideo

struct DaemonCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "daemon",
    abstract: "Run the pipeline headless, configured by a JSON file, for systemd.",
    discussion: helpText(
      """
      For a systemd service with Type=notify (see Deploy/zsm.service and
      Deploy/zsm-daemon.json): READY=1 once the model is loaded and the source is open (a
      FIFO waiting for its writer is open), STATUS= after every window, WATCHDOG=1 from the pipeline loop (set WatchdogSec longer
      than a window takes), STOPPING=1 at the end, all through $NOTIFY_SOCKET without
      libsystemd. SIGTERM finishes the current window, flushes and exits 0; SIGHUP reloads
      the configuration. The end of a source that is not finite (a FIFO, a pipe) exits with
      status 1, so Restart=on-failure restarts the daemon; the end of a finite one (a regular
      file, or "finite": true in "source") exits 0. Metrics are written in Prometheus text
      format for node exporter's textfile collector, atomically, after every window.

      Configuration:
        { "threads": 4, "window": 4,
          "source": { "type": "y4m", "path": "input.fifo" },
          "sink": { "type": "y4m-rotate", "directory": "out",
                    "framesPerFile": 1000 },
          "metrics": "zsm.prom" }
      Without "model", the shipped ZSM-Lite. Relative paths: outputs and metrics in
      $STATE_DIRECTORY, the source in $RUNTIME_DIRECTORY (systemd's StateDirectory= and
      RuntimeDirectory=; a missing source there is made a FIFO), else the current directory.
      Sources: y4m (file, FIFO or - for stdin; "finite": true|false), camera. Sinks: y4m
      (file or -), y4m-rotate, display, null. Optional: "model", "precision": "fp32" |
      "fp16" | "int8" (int8 reads "calibration", default Calibration/<model sha256>-int8.json,
      made by zsm calibrate).
      Limits: "window" 2...1024, "threads" 1...256 (at most the CPUs available are started),
      frames at most 4096x4096. Unknown or duplicate keys are errors. A y4m sink file is
      appended to, never truncated (one with another stream header is moved to PATH.1); the
      metrics path must be a regular file of its own (not the sink, the source or a device).
      """))

  @Option(help: "Configuration file (JSON).")
  var config: String

  func run() throws {
    let daemon: Daemon
    do {
      daemon = try Daemon(configPath: config, environment: ProcessInfo.processInfo.environment) {
        note("zsm: " + terminalSafe($0))
      }
    } catch { throw CLIError("\(error)") }
    let status: Int32
    do { status = try daemon.run() } catch { throw CLIError("\(error)") }
    if status != 0 { throw ExitCode(status) }
  }
}
