import ArgumentParser
import Foundation
import ZSMKernels
import ZSMRuntime

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Benchmark the kernels on the network's real layer shapes.",
    discussion: helpText(
      """
      Measures the machine's fp32 FMA peak with a pure-FMA loop, then every kernel at 1 and N
      threads, interleaving the kernels round-robin and reporting the median of --reps runs in
      GFLOP/s and as a percentage of the peak measured in the same run. Before measuring it waits
      (up to 20 s) until other processes use less than 0.15 of a core, and it re-times a run in
      which this process got less than 90% of the cores it asked for.

      Always build in release mode for the CPU you run on:
        swift build -c release && .build/release/zsm bench
      Names are stable for scripts, e.g. conv3x3-64-64-180x144, conv1x1-128-64-180x144,
      deform3x3-64-64-g8-180x144 (sampling + multiply, excluding its offset conv; the shipped
      ZSM-Lite's is deform3x3-16-16-g2-80x60). Each stride-1 3x3 shape of the released (nf 64)
      and compact (nf 16) networks runs direct and by Winograd F(4,3), e.g. conv3x3-64-64-80x60
      and conv3x3-64-64-80x60-winograd (GFLOP/s counted as the direct convolution's FLOPs: the
      effective rate; the ratio of the two is the speed-up).

      A run takes minutes: on a terminal a progress line on stderr says what is being measured
      (--progress: also when stderr is a pipe or a log, one line per step); the results alone go
      to stdout.
      """))

  @Option(help: "Comma-separated thread counts.")
  var threads: String = "1,\(ProcessInfo.processInfo.activeProcessorCount)"

  @Option(help: "Timed runs per kernel and thread count (the median is reported).")
  var reps: Int = 7

  @Option(help: "Only run kernels whose name contains this text.")
  var filter: String?

  @Flag(help: "Print one JSON document instead of a table.")
  var json = false

  @Flag(help: "Progress lines on stderr also when it is not a terminal (results stay alone on stdout).")
  var progress = false

  func validate() throws {
    guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
    guard !threadCounts.isEmpty, threadCounts.allSatisfy({ $0 >= 1 && $0 <= 256 }) else {
      throw ValidationError("--threads must be a comma-separated list of counts from 1 to 256, got '\(threads)'")
    }
  }

  var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

  func run() throws {
    let cases = (KernelBenchmarks.all() + KernelBenchmarks.winogradBenchmarks()).filter { c in
      filter.map { c.name.contains($0) } ?? true
    }
    let colors = colorConversionBenchmarks().filter { c in filter.map { c.name.contains($0) } ?? true }
    guard !cases.isEmpty || !colors.isEmpty else {
      throw ValidationError("no kernel matches --filter '\(filter ?? "")'")
    }
    let progressLine = ProgressLine(forced: progress)
    let start = monotonicSeconds()
    func step(_ text: String) { progressLine.update("bench [\(clockTime(monotonicSeconds() - start))]: \(text)") }
    step("waiting (up to 20 s) until other processes leave the CPUs")
    let load = waitForQuietMachine()
    var report = BenchReport(foreignLoadAtStart: load)
    for t in threadCounts where !cases.isEmpty {
      let pool = WorkerPool(threads: t)
      step("\(t) thread(s): FMA peak")
      report.peak[t] = measurePeak(pool: pool)
      step("\(t) thread(s): warming up \(cases.count) kernel(s)")
      for c in cases { c.run(pool) }  // warm-up: caches, page faults, thread wake-ups
      var times = [[Double]](repeating: [], count: cases.count)
      for rep in 0..<reps {
        step("\(t) thread(s): \(cases.count) kernel(s), round \(rep + 1) of \(reps)")
        for (i, c) in cases.enumerated() {
          let r = timeUndisturbed(threads: t, minShare: t == 1 ? 0.9 : 0.75) { c.run(pool) }
          times[i].append(r.seconds)
          if r.disturbed { report.disturbedRuns += 1 }
        }
      }
      for (i, c) in cases.enumerated() {
        let seconds = median(times[i])
        report.results.append(.init(name: c.name, threads: t, seconds: seconds, flops: c.flops))
      }
    }
    // Colour conversion (one thread; memory-bound): bytes read + written per second.
    if !colors.isEmpty { step("colour conversions: warming up") }
    for c in colors { c.run() }
    var colorTimes = [[Double]](repeating: [], count: colors.count)
    for rep in 0..<reps where !colors.isEmpty {
      step("colour conversions, round \(rep + 1) of \(reps)")
      for (i, c) in colors.enumerated() {
        colorTimes[i].append(timeUndisturbed(threads: 1, minShare: 0.9, c.run).seconds)
      }
    }
    for (i, c) in colors.enumerated() {
      report.conversions.append(.init(name: c.name, seconds: median(colorTimes[i]), bytes: c.bytes))
    }
    progressLine.finish()
    print(json ? report.json() : report.table())
  }

  /// Attainable fp32 FLOP/s of `pool.threadCount` threads running the pure-FMA loop: the best
  /// of 5 samples (interference can only slow the loop down).
  func measurePeak(pool: WorkerPool) -> Double {
    let iterations = 20_000_000
    var samples: [Double] = []
    for _ in 0..<5 {
      let r = timeUndisturbed(threads: pool.threadCount, minShare: 0.9) {
        pool.run(tasks: pool.threadCount, PeakJob(iterations: iterations))
      }
      samples.append(Double(iterations * fmaPeakFlopsPerIteration * pool.threadCount) / r.seconds)
    }
    return samples.max() ?? 0
  }
}

/// One pure-FMA loop per thread.
struct PeakJob: ParallelJob {
  let iterations: Int
  func run(task: Int, worker: Int) {
    if fmaPeakLoop(iterations: iterations, seed: 1) == 42 { print("") }
  }
}

/// Results of one `zsm bench` run.
struct BenchReport {
  struct Result {
    let name: String
    let threads: Int
    let seconds: Double
    let flops: Double
    var gflops: Double { flops / seconds / 1e9 }
  }

  /// A memory-bound kernel: bytes read plus written per call.
  struct Conversion {
    let name: String
    let seconds: Double
    let bytes: Int
    var gigabytesPerSecond: Double { Double(bytes) / seconds / 1e9 }
  }

  let foreignLoadAtStart: Double
  var conversions: [Conversion] = []
  var peak: [Int: Double] = [:]
  var results: [Result] = []
  var disturbedRuns = 0

  func percentOfPeak(_ r: Result) -> Double { 100 * r.flops / r.seconds / (peak[r.threads] ?? .nan) }

  func table() -> String {
    var lines: [String] = []
    let threads = peak.keys.sorted()
    lines.append("foreign load at start: \(fmt(foreignLoadAtStart, 2)) cores; disturbed runs: \(disturbedRuns)")
    if !results.isEmpty {
      let peaks = threads.map { "\($0)T \(fmt(peak[$0]! / 1e9, 1))" }.joined(separator: ", ")
      lines.append("fp32 FMA peak (GFLOP/s, measured now): \(peaks)")
      lines.append(
        "kernel".padding(toLength: 34, withPad: " ", startingAt: 0) + "threads        ms    GFLOP/s  % of peak")
    }
    for r in results {
      lines.append(
        r.name.padding(toLength: 34, withPad: " ", startingAt: 0) + pad("\(r.threads)", 7)
          + pad(fmt(r.seconds * 1e3, 3), 10)
          + pad(fmt(r.gflops, 1), 11) + pad(fmt(percentOfPeak(r), 1), 11))
    }
    for summary in summaries() { lines.append(summary) }
    if !conversions.isEmpty {
      lines.append("conversion (1 thread)".padding(toLength: 34, withPad: " ", startingAt: 0) + "       ms       GB/s")
      for c in conversions {
        lines.append(
          c.name.padding(toLength: 34, withPad: " ", startingAt: 0) + pad(fmt(c.seconds * 1e3, 3), 9)
            + pad(fmt(c.gigabytesPerSecond, 2), 11))
      }
    }
    return lines.joined(separator: "\n")
  }

  /// The ratios the project's targets are stated in.
  func summaries() -> [String] {
    var out: [String] = []
    func find(_ name: String, _ t: Int) -> Result? { results.first { $0.name == name && $0.threads == t } }
    let threads = peak.keys.sorted()
    if let n = threads.last, n > 1, let one = find("conv3x3-64-64-180x144", 1),
      let many = find("conv3x3-64-64-180x144", n)
    {
      out.append("conv3x3-64-64-180x144: \(n) threads are \(fmt(one.seconds / many.seconds, 2))x one thread")
    }
    // The released network's deformable shape and the shipped ZSM-Lite's.
    for (deform, conv) in [
      ("deform3x3-64-64-g8-180x144", "conv3x3-64-64-180x144"), ("deform3x3-16-16-g2-80x60", "conv3x3-16-16-80x60"),
    ] {
      for t in threads {
        if let d = find(deform, t), let c = find(conv, t) {
          out.append("\(deform) / \(conv) time at \(t)T: \(fmt(d.seconds / c.seconds, 2))")
        }
      }
    }
    return out
  }

  func json() -> String {
    var kernels: [[String: Any]] = []
    for r in results {
      kernels.append([
        "name": r.name, "threads": r.threads, "ms": round3(r.seconds * 1e3), "gflops": round3(r.gflops),
        "percent_of_peak": round3(percentOfPeak(r)),
      ])
    }
    var doc: [String: Any] = [
      "peak_gflops_1t": round3((peak[1] ?? .nan) / 1e9),
      "peak_gflops": Dictionary(uniqueKeysWithValues: peak.map { ("\($0.key)", round3($0.value / 1e9)) }),
      "kernels": kernels, "foreign_load_at_start": round3(foreignLoadAtStart), "disturbed_runs": disturbedRuns,
      "conversions": conversions.map {
        ["name": $0.name, "ms": round3($0.seconds * 1e3), "gb_per_s": round3($0.gigabytesPerSecond)] as [String: Any]
      },
    ]
    if peak[1] == nil { doc["peak_gflops_1t"] = NSNull() }
    guard let data = try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted]) else {
      return "{}"
    }
    return String(decoding: data, as: UTF8.self)
  }

  private func round3(_ x: Double) -> Double { x.isFinite ? (x * 1000).rounded() / 1000 : 0 }
}

func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
