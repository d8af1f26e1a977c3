import Foundation
import ZSMModel
import ZSMRuntime

extension Profile {
  /// `--compare-int8`: what each int8 candidate group costs and saves. The network is built in
  /// fp32, in int8 with the base groups (`--int8-groups`, default the policy's), with each other
  /// candidate group added to the base alone, and with every candidate; all are timed in
  /// interleaved rounds (a warm-up each, then `reps` rounds: medians of the window and of the
  /// ConvLSTM stage), and each output is compared with fp32's on the same input (PSNR, peak 1).
  /// The scales come from `--calibration` (a `zsm calibrate` table, which must have every
  /// candidate's entry) or, without one, from the fp32 run on the profiled window itself.
  func compareInt8(threads t: Int, step: (String) -> Void) throws -> String {
    let base = try baseInt8Groups()
    // The input: a tensor file (real frames) or the profile's random frames.
    var (w, h) = parsedSize!
    var n = frames
    let input: [Float]
    if let path = inputTensor {
      let tensor: TensorFile
      do { tensor = try TensorFile.read(path: path) } catch { throw CLIError("\(error)") }
      let s = tensor.shape
      guard s.count == 5, s[0] == 1, s[1] >= 2, s[2] == 3 else {
        throw CLIError("\(path): shape \(s) is not [1, N, 3, H, W] with N >= 2")
      }
      (n, h, w) = (s[1], s[3], s[4])
      input = tensor.data
    } else {
      var rng = SplitMix(seed: 11)
      input = (0..<(n * 3 * h * w)).map { _ in 0.5 + 0.5 * rng.uniform() }
    }
    // The weights.
    precision.applyWinograd()
    let config: ZSMConfig
    var parameters: [String: [Float]] = [:]
    var modelPath: String?
    if randomReleased {
      config = .released
      parameters = randomParameters(config: config)
    } else {
      let path = try resolvedModel(model)
      modelPath = path
      let stateDict: StateDict
      do { (stateDict, config) = try StateDict.loadZSM(path: path) } catch { throw CLIError("\(path): \(error)") }
      for tensor in stateDict.tensors { parameters[tensor.name] = tensor.data }
    }
    func build(_ p: Precision, _ table: CalibrationTable?, _ groups: Set<String>) throws -> ZSMNetwork {
      do {
        let network = try ZSMNetwork(
          config: config, parameters: parameters, threads: t, precision: p, calibration: table, int8Groups: groups)
        try network.prepare(frames: n, height: h, width: w)
        return network
      } catch { throw CLIError(error.description) }
    }
    func run(_ network: ZSMNetwork, into output: inout [Float]) {
      input.withUnsafeBufferPointer { inp in
        output.withUnsafeMutableBufferPointer { out in network.run(input: inp.baseAddress!, output: out.baseAddress!) }
      }
    }
    step("building the fp32 network")
    let fp32 = try build(.fp32, nil, [])
    let outputCount = (2 * n - 1) * 3 * 16 * h * w
    let table: CalibrationTable
    let tableSource: String
    if let path = precision.calibration {
      guard let modelPath else { throw CLIError("--calibration needs --model (random weights have no table)") }
      do {
        table = try CalibrationTable.load(path: path, expectedModelSHA256: try SHA256.hexDigest(ofFileAt: modelPath))
      } catch { throw CLIError("\(error)") }
      tableSource = path
    } else {
      step("calibrating on the profiled window (fp32 run)")
      let recorder = fp32.recordActivations()
      var scratch = [Float](repeating: 0, count: outputCount)
      run(fp32, into: &scratch)
      fp32.stopRecording()
      table = CalibrationTable(
        modelSHA256: String(repeating: "0", count: 64), method: "percentile 99.99 on the profiled window",
        clip: "profiled window", frames: n, windows: 1, entries: recorder.entries(quantile: 0.9999), psnrY: [])
      tableSource = "calibrated on the profiled window (99.99th percentile)"
    }
    var variants: [(name: String, network: ZSMNetwork)] = [("fp32", fp32)]
    var groupSets: [(String, Set<String>)] = [("int8 " + describe(base), base)]
    let extra = Int8Policy.candidateGroups.subtracting(base).sorted()
    for g in extra { groupSets.append(("int8 + \(g)", base.union([g]))) }
    if extra.count > 1 { groupSets.append(("int8 all candidates", Int8Policy.candidateGroups)) }
    for (name, groups) in groupSets {
      step("building \(name)")
      variants.append((name, try build(.int8, table, groups)))
    }
    var outputs = variants.map { _ in [Float](repeating: 0, count: outputCount) }
    var windows = [[Double]](repeating: [], count: variants.count)
    var lstm = [[Double]](repeating: [], count: variants.count)
    for round in 0...reps {
      for (i, v) in variants.enumerated() {
        step("round \(round) of \(reps) (0: warm-up), \(v.name)")
        let r = timeUndisturbed(threads: t, minShare: 0.5) { run(v.network, into: &outputs[i]) }
        if round > 0 {
          windows[i].append(r.seconds)
          lstm[i].append(v.network.lastRunSeconds(of: .convLSTM))
        }
      }
    }
    let frameCount = Double(fp32.outputFrames)
    let fp32Window = median(windows[0])
    let baseWindow = median(windows[1])
    var lines = [
      "network \(fp32.config), \(w)x\(h), \(n) frames (\(inputTensor ?? "random frames")), \(t) thread(s), "
        + "\(reps) interleaved round(s), medians; int8 scales: \(tableSource)",
      "variant".padding(toLength: 34, withPad: " ", startingAt: 0)
        + "  layers  ms/window  s/out frame  vs fp32  vs base  ConvLSTM ms  share  PSNR vs fp32",
    ]
    var json: [[String: Any]] = []
    for (i, v) in variants.enumerated() {
      let window = median(windows[i])
      let stage = median(lstm[i])
      let db =
        i == 0
        ? Double.infinity
        : outputs[i].withUnsafeBufferPointer { o in outputs[0].withUnsafeBufferPointer { psnr(o, reference: $0) } }
      lines.append(
        v.name.padding(toLength: 34, withPad: " ", startingAt: 0) + pad("\(v.network.int8LayerNames.count)", 8)
          + pad(fmt(window * 1e3, 1), 11) + pad(fmt(window / frameCount, 3), 13)
          + pad(fmt(fp32Window / window, 2) + "x", 9) + pad(i == 0 ? "" : fmt(baseWindow / window, 2) + "x", 9)
          + pad(fmt(stage * 1e3, 1), 13) + pad(fmt(100 * stage / window, 1) + "%", 7)
          + pad(i == 0 ? "" : fmt(db, 2) + " dB", 14))
      json.append([
        "variant": v.name, "int8_layers": v.network.int8LayerNames.count, "window_s": window,
        "s_per_output_frame": window / frameCount, "speedup_vs_fp32": fp32Window / window,
        "speedup_vs_base": baseWindow / window, "convlstm_s": stage, "psnr_db": db.isFinite ? db : 999,
        "window_runs_s": windows[i],
      ])
    }
    if self.json {
      let doc: [String: Any] = [
        "compare_int8": [
          "config": "\(fp32.config)", "size": "\(w)x\(h)", "frames": n, "threads": t, "rounds": reps,
          "scales": tableSource, "variants": json,
        ] as [String: Any]
      ]
      let data = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted])
      return String(decoding: data, as: UTF8.self)
    }
    return lines.joined(separator: "\n")
  }

  /// `--int8-groups` parsed (default: the policy's groups).
  func baseInt8Groups() throws -> Set<String> {
    guard let list = int8Groups else { return Int8Policy.groups }
    switch Int8Policy.parseGroups(list) {
    case .success(let groups): return groups
    case .failure(let error): throw CLIError("--int8-groups: \(error.description)")
    }
  }

  private func describe(_ groups: Set<String>) -> String {
    groups == Int8Policy.groups ? "policy" : "base (\(groups.sorted().joined(separator: ",")))"
  }
}
