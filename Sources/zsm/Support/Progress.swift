#if canImport(Glibc)
  import Glibc
#endif

/// Progress on stderr for commands that run for minutes (`upscale`, `bench`, `profile`). On a
/// terminal one line is rewritten in place; elsewhere (a pipe, a log) nothing is written
/// unless `--progress` asks for it, and then every update is a line of its own. Standard
/// output, which carries results, is never touched.
final class ProgressLine {
  let enabled: Bool
  let terminal: Bool
  private var pending = false

  init(forced: Bool) {
    terminal = isatty(2) != 0
    enabled = terminal || forced
  }

  /// Shows `text` as the current state.
  func update(_ text: String) {
    guard enabled else { return }
    if terminal {
      FileHandleStandardError.write("\r" + text + "\u{1b}[K")
      pending = true
    } else {
      FileHandleStandardError.write(text + "\n")
    }
  }

  /// A line that stays (a measurement, a warning), after the in-place line if there is one.
  func note(_ text: String) {
    finish()
    FileHandleStandardError.write(text + "\n")
  }

  /// Ends the in-place line, so that what follows starts on a line of its own.
  func finish() {
    if pending { FileHandleStandardError.write("\n") }
    pending = false
  }
}

/// Seconds as `m:ss`, or `h:mm:ss` from an hour on.
func clockTime(_ seconds: Double) -> String {
  let s = Int(max(0, seconds.isFinite ? seconds : 0).rounded())
  let (h, m, r) = (s / 3600, s / 60 % 60, s % 60)
  func two(_ x: Int) -> String { x < 10 ? "0\(x)" : "\(x)" }
  return h > 0 ? "\(h):\(two(m)):\(two(r))" : "\(m):\(two(r))"
}
