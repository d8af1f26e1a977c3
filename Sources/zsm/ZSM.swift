import ArgumentParser
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
    main(nil)
  }
}
