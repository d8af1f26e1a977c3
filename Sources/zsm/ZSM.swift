import ArgumentParser

@main
struct ZSM: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zsm",
    abstract: "Zooming Slow-Mo space-time video super-resolution on the CPU.",
    subcommands: [Upscale.self, Eval.self, DaemonCommand.self, Infer.self, Inspect.self, Bench.self, Devices.self]
  )
}
