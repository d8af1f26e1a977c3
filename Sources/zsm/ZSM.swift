import ArgumentParser
import Foundation
import ZSMRuntime

@main
struct ZSM: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zsm",
    abstract: "Zooming Slow-Mo space-time video super-resolution on the CPU.",
    version: versionText(),
    subcommands: [
      Upscale.self, Live.self, Eval.self, DaemonCommand.self, Infer.self, Inspect.self, Bench.self, Profile.self,
      Calibrate.self,
      Devices.self,
    ]
  )

  /// Refuses to start on a CPU that lacks features this binary was compiled for (Boards/README.md).
  /// On x86 and aarch64 CZSMCPU's constructor has already checked cpuid / AT_HWCAP before any
  /// code built for the target CPU ran; this checks /proc/cpuinfo too.
  static func main() {
    do {
      try CPUFeatures.requireCompiledFeatures()
    } catch {
      note("zsm: \(error.message)")
      ZSM.exit(withError: ExitCode(3))
    }
    // Every command, before any thread or child: a mask inherited from the parent must not
    // hide the signals that end a run.
    unblockTerminationSignals()
    main(nil)
  }
}

/// Unblocks SIGINT, SIGTERM and SIGHUP in the calling thread, before it starts other threads
/// and processes (which inherit its mask): a process started with them blocked (its parent's
/// mask, e.g. a program that waits for them with sigwait) would never see them, neither to
/// end nor to remove its unfinished output, and neither would its ffmpeg children.
func unblockTerminationSignals() {
  var set = sigset_t()
  sigemptyset(&set)
  for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, sig) }
  pthread_sigmask(SIG_UNBLOCK, &set, nil)
}
