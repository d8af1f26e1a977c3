import Foundation
import ZSMModel
import ZSMRuntime

extension Profile {
  /// `--compare-winograd`: the whole network built twice, every convolution direct and with
  /// the Winograd policy, timed in interleaved rounds (a warm-up each, then `reps` rounds); the
  /// medians and their ratio. Returns the report's text (or JSON).
  func compareWinograd(threads t: Int, width w: Int, height h: Int, step: (String) -> Void) throws -> String {
    var networks: [ZSMNetwork] = []
    let saved = RuntimeTuning.winograd
    defer { RuntimeTuning.winograd = saved }
    var options = precision
    options.winograd = nil
    for winograd in [false, true] {
      step("building the network, Winograd \(winograd ? "on" : "off")")
      RuntimeTuning.winograd = winograd
      let network =
        randomReleased
        ? try randomNetwork(config: .released, threads: t, precision: precision.precision)
        : try loadNetwork(path: try resolvedModel(model), threads: t, precision: options)
      do { try network.prepare(frames: frames, height: h, width: w) } catch { throw CLIError(error.description) }
      networks.append(network)
    }
    var rng = SplitMix(seed: 11)
    let input = (0..<(frames * 3 * h * w)).map { _ in 0.5 + 0.5 * rng.uniform() }
    var outputs = networks.map { _ in [Float](repeating: 0, count: (2 * frames - 1) * 3 * 16 * h * w) }
    var times: [[Double]] = [[], []]
    for round in 0...reps {
      for (i, network) in networks.enumerated() {
        step("round \(round) of \(reps) (0: warm-up), Winograd \(i == 1 ? "on" : "off")")
        let r = timeUndisturbed(threads: t, minShare: 0.5) {
          input.withUnsafeBufferPointer { inp in
            outputs[i].withUnsafeMutableBufferPointer { out in
              network.run(input: inp.baseAddress!, output: out.baseAddress!)
            }
          }
        }
        if round > 0 { times[i].append(r.seconds) }
      }
    }
    var worst: Float = 0
    for j in outputs[0].indices { worst = max(worst, abs(outputs[0][j] - outputs[1][j])) }
    let direct = median(times[0])
    let winograd = median(times[1])
    let frameCount = Double(networks[0].outputFrames)
    if json {
      return """
        {"compare_winograd": {"config": "\(networks[0].config), \(networks[0].precision)", "size": "\(w)x\(h)", \
        "frames": \(frames), "threads": \(t), "rounds": \(reps), "direct_seconds": \(direct), \
        "winograd_seconds": \(winograd), "speedup": \(direct / winograd), "max_abs_difference": \(worst), \
        "direct_runs": \(times[0]), "winograd_runs": \(times[1]), \
        "winograd_weight_bytes": \(networks[1].winogradWeightBytes)}}
        """
    }
    return """
      network \(networks[0].config), \(networks[0].precision), \(w)x\(h), \(frames) frames, \(t) thread(s), \
      \(reps) interleaved round(s), median:
        direct    \(fmt(direct * 1e3, 1)) ms per window, \(fmt(direct / frameCount, 3)) s per output frame \
      (runs: \(times[0].map { fmt($0, 3) }.joined(separator: ", ")))
        Winograd  \(fmt(winograd * 1e3, 1)) ms per window, \(fmt(winograd / frameCount, 3)) s per output frame \
      (runs: \(times[1].map { fmt($0, 3) }.joined(separator: ", ")))
        speed-up  \(fmt(direct / winograd, 3))x; outputs differ by at most \(worst) (max abs); \
      Winograd weights \(fmt(Double(networks[1].winogradWeightBytes) / 1e6, 1)) MB
      """
  }
}
