import ArgumentParser

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Benchmark the kernels on the network's layer shapes.")
  func run() throws {}
}
