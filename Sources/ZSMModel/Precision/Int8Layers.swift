import ZSMKernels
import ZSMRuntime

#if ZSM_INT8
  import ZSMKernelsInt8
#endif

/// Which convolutions run in int8 (`--precision int8`), and why the others do not.
///
/// The *candidates* are the 3x3 convolutions with a multiple of 4 input channels (what the int8
/// kernel runs) in `candidateGroups`: `zsm calibrate` records the input of every candidate, so
/// one table serves any choice among them. Of the candidates, those in `groups` run in int8.
///
/// Never candidates:
/// - `conv_first` (3 input channels: nothing to gain, and the RGB input is exact) and
///   `conv_last` (its output is the picture);
/// - the deformable convolutions themselves (they gather fp32 columns);
/// - 1x1 fusions (the int8 kernel is 3x3; they are a small share of the work).
///
/// `groups`: each candidate group was measured alone (`zsm profile --compare-int8`,
/// `Int8GroupTests.testEachCandidateGroupOnFixtures`). The residual blocks of feature
/// extraction and the reconstruction trunk, the pyramid convs (also the state aligners'), the
/// `L*_fea_conv` merges, upconv1/2 and HRconv ran in int8 first. Of the ConvLSTM stage's
/// convolutions, the offset and mask convs `conv_offset_mask` (int8 input and weights; the
/// offsets and masks they write stay fp32) and the gate conv `cell_list.0.conv` (its input is
/// one tensor `[x ‖ h~]`, one scale) joined: on the released configuration (seeded random
/// weights, 80x60 real frames) each cost 0.35-0.45 dB of PSNR against fp32 and each made the
/// int8 window 1.07-1.11x faster; on the fixtures each alone keeps 49 dB or more. The offset
/// feature convs `L*_offset_conv*` stay a candidate but not in `groups`: on that network they
/// cost 1.5 dB, four times the others, for a similar gain.
public enum Int8Policy {
  /// The layer groups that run in int8 by default.
  public static let groups: Set<String> = candidateGroups.subtracting(["offset_convs"])

  /// The layer groups whose 3x3 convolutions may run in int8 (calibration records them all).
  public static let candidateGroups: Set<String> = [
    "residual_blocks", "pyramid", "fea_convs", "upsampling", "offset_convs", "offset_mask", "lstm_gates",
  ]

  /// Whether an int8 layer that takes the Winograd path in fp32 at its map width
  /// (`Conv2D.prefersWinograd`) runs there in fp32 instead: in builds whose int8 kernel is
  /// AVX2's `vpmaddwd`, which is 1.5-1.6x the direct fp32 kernel but slower than fp32 Winograd
  /// (`zsm bench --threads 1`, 2-vCPU AMD EPYC Zen 3: `conv3x3-64-64-180x144` fp32 19.7 ms,
  /// int8 12.4, Winograd 8.1). VNNI (3.6x the direct kernel) and aarch64 keep int8 everywhere.
  /// Such layers lose nothing in accuracy; their int8 weights stay loaded for narrower maps.
  #if ZSM_INT8 && arch(x86_64) && !ZSM_VNNI
    nonisolated(unsafe) public static var winogradOverInt8 = true
  #else
    nonisolated(unsafe) public static var winogradOverInt8 = false
  #endif

  /// Whether `layer` is an int8 candidate (the kernel can run it; calibration records its input).
  public static func isCandidate(_ layer: Conv2D) -> Bool {
    guard layer.kernelSize == 3, layer.inputChannels % 4 == 0 else { return false }
    return candidateGroups.contains(group(of: layer.name))
  }

  /// Whether `layer` runs in int8 when the groups `groups` do.
  public static func mayQuantize(_ layer: Conv2D, groups: Set<String> = groups) -> Bool {
    isCandidate(layer) && groups.contains(group(of: layer.name))
  }

  /// `groups` parsed from a comma-separated list of candidate groups (`--int8-groups`), or why not.
  public static func parseGroups(_ list: String) -> Result<Set<String>, ModelError> {
    let names = list.split(separator: ",").map { String($0.filter { !$0.isWhitespace }) }.filter { !$0.isEmpty }
    for n in names where !candidateGroups.contains(n) {
      return .failure(
        ModelError("unknown int8 layer group '\(n)' (candidates: \(candidateGroups.sorted().joined(separator: ", ")))"))
    }
    return .success(Set(names))
  }

  /// The board files' layer group of a convolution (`BoardProfile.PrecisionPlan.groups`).
  public static func group(of name: String) -> String {
    if name == "conv_first" { return "conv_first" }
    if name == "conv_last" { return "conv_last" }
    if name.hasSuffix("conv_offset_mask") { return "offset_mask" }
    if name.contains("_offset_conv") { return "offset_convs" }
    if name.contains("_dcnpack") { return "deformable" }
    if name.hasSuffix("cell_list.0.conv") { return "lstm_gates" }
    if name.contains("_fea_conv") { return "fea_convs" }
    if name.contains("fea_L") { return "pyramid" }
    if name.hasPrefix("upconv") || name == "HRconv" { return "upsampling" }
    if name.hasSuffix(".conv1") || name.hasSuffix(".conv2") { return "residual_blocks" }
    return "fusion_1x1"
  }

  /// The calibration-table name of a layer's input tensor.
  public static func tensorName(ofInputTo layer: String) -> String { layer + ".input" }

  /// Whether this build has int8 kernels, or why not.
  public static var unavailableReason: String? {
    #if ZSM_INT8
      return nil
    #elseif arch(x86_64)
      return "this build has no int8 kernels: they need a target CPU with AVX2 or later, and this build's flags"
        + " name none that Package.swift knows (generic, pre-Haswell or an unlisted CPU); build with"
        + " ZSM_BOARD=x86_64-avx2, ZSM_MARCH=x86-64-v3 or the default -target-cpu native"
    #else
      return "this build has no int8 kernels: they exist for x86-64 (AVX2 or later) and aarch64 only"
    #endif
  }

  /// The int8 kernel this build runs (`zsm --version`), nil without one.
  public static var backend: String? {
    #if ZSM_INT8
      return int8BackendName
    #else
      return nil
    #endif
  }
}

/// A convolution that may run in int8, with its PyTorch-layout weights (for quantising).
struct Int8Candidate {
  let layer: Conv2D
  let weights: [Float]
  let bias: [Float]
  let outputOrder: (Int) -> Int
}

/// The int8 candidates of a network, in slot order (filled while the weights are packed).
final class Int8Candidates {
  var layers: [Int8Candidate] = []
}

/// Activation statistics of every int8 candidate's input, recorded while an fp32 network runs
/// (`zsm calibrate`).
public final class ActivationRecorder {
  public let tensorNames: [String]
  public private(set) var histograms: [ActivationHistogram]

  init(tensorNames: [String]) {
    self.tensorNames = tensorNames
    histograms = Array(repeating: ActivationHistogram(), count: tensorNames.count)
  }

  /// Adds rows `rows` of an fp32 map (interior only) to slot `slot`.
  func record(slot: Int, _ map: FeatureMap, rows: Range<Int>) {
    for y in rows {
      for x in 0..<map.width { histograms[slot].add(map.pixel(y, x), count: map.channels) }
    }
  }

  /// Calibration entries: the `quantile` clipping range of each tensor (1: min/max) as
  /// asymmetric u8 parameters.
  public func entries(quantile: Double) -> [CalibrationTable.Entry] {
    zip(tensorNames, histograms).map { name, h in
      let (low, high) = h.quantile(quantile)
      let q = QuantizationParameters.asymmetricUInt8(low: low, high: high)
      return CalibrationTable.Entry(tensor: name, scale: q.scale, zeroPoint: q.zeroPoint, min: h.min, max: h.max)
    }
  }
}

#if ZSM_INT8
  /// The quantised weights of the int8 layers, by slot (nil: the slot stays fp32), and the
  /// memory behind them.
  final class Int8Layers {
    private(set) var weights: [Int8ConvWeights?]
    private var blocks: [UnsafeMutableRawPointer] = []

    /// The int8 weights of the candidates whose group is in `groups` (the others stay fp32).
    /// A table without an entry for one of them is refused (no silent fp32 fallback: the
    /// table's recorded PSNR would not describe the network that runs).
    init(candidates: [Int8Candidate], table: CalibrationTable, groups: Set<String>) throws(ModelError) {
      weights = []
      let quantised = candidates.filter { groups.contains(Int8Policy.group(of: $0.layer.name)) }
      let missing = quantised.map(\.layer.name).filter {
        table.entry(named: Int8Policy.tensorName(ofInputTo: $0)) == nil
      }
      if let first = missing.first {
        let missingGroups = Set(missing.map { Int8Policy.group(of: $0) }).sorted()
        throw ModelError(
          "the calibration table has no entry for \(Int8Policy.tensorName(ofInputTo: first))"
            + (missing.count > 1 ? " and \(missing.count - 1) more" : "")
            + " (int8 layer groups \(missingGroups.joined(separator: ", "))): it was made by a runtime that ran"
            + " fewer layers in int8, or by another runtime version; make it again with: zsm calibrate"
            + " --model MODEL --input CLIP.y4m --precision int8")
      }
      for c in candidates {
        guard groups.contains(Int8Policy.group(of: c.layer.name)) else {
          weights.append(nil)
          continue
        }
        let name = Int8Policy.tensorName(ofInputTo: c.layer.name)
        guard let entry = table.entry(named: name) else { preconditionFailure("checked above") }
        let cin = c.layer.inputChannels
        let cout = c.layer.outputChannels
        let sizes = Int8ConvWeights.storage(inputChannels: cin, outputChannels: cout)
        let perChannelBytes = (sizes.perChannel * 4 + 63) / 64 * 64
        let weightBytes = (sizes.weightBytes + 63) / 64 * 64
        let block = UnsafeMutableRawPointer.allocate(byteCount: weightBytes + 3 * perChannelBytes, alignment: 64)
        blocks.append(block)
        let packed = c.weights.withUnsafeBufferPointer { w in
          c.bias.withUnsafeBufferPointer { b in
            Int8ConvWeights.pack(
              weights: w.baseAddress!, bias: b.baseAddress!, inputChannels: cin, outputChannels: cout,
              activationScale: entry.scale, zeroPoint: entry.zeroPoint, outputOrder: c.outputOrder,
              into: block.assumingMemoryBound(to: Int8.self),
              correction: (block + weightBytes).assumingMemoryBound(to: Int32.self),
              outputScale: (block + weightBytes + perChannelBytes).assumingMemoryBound(to: Float.self),
              bias: (block + weightBytes + 2 * perChannelBytes).assumingMemoryBound(to: Float.self))
          }
        }
        weights.append(packed)
      }
    }

    deinit { for b in blocks { b.deallocate() } }

    var byteCount: Int {
      weights.reduce(0) { sum, w in
        guard let w else { return sum }
        let sizes = Int8ConvWeights.storage(inputChannels: w.inputChannels, outputChannels: w.outputChannels)
        return sum + sizes.weightBytes + 12 * sizes.perChannel
      }
    }
  }

  /// Rows of an int8 convolution (see `conv3x3Int8Staged`).
  struct Int8ConvRows: RowJob {
    let weights: Int8ConvWeights
    let input: FeatureMap
    let output: FeatureMap
    let residual: FeatureMap?
    let stride: Int
    let epilogue: Epilogue
    let scratch: UnsafeMutableRawPointer
    let scratchBytesPerWorker: Int

    func run(rows: Range<Int>, worker: Int) {
      conv3x3Int8Staged(
        input: input, weights: weights, output: output, stride: stride, epilogue: epilogue, residual: residual,
        rows: rows, scratch: scratch + worker * scratchBytesPerWorker)
    }
  }
#endif
