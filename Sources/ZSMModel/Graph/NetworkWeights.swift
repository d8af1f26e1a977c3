import ZSMKernels
import ZSMRuntime

/// A missing or mis-shaped parameter found while packing weights.
public struct ModelError: Error, CustomStringConvertible, Equatable {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// Packs the checkpoint's parameters (name -> float32 values, PyTorch layout) into one
/// `WeightStorage`, layer by layer, checking every shape.
struct WeightPacker {
  let parameters: [String: [Float]]
  let storage: WeightStorage
  /// The int8 candidates, in slot order (see `Int8Policy`).
  let int8Candidates = Int8Candidates()

  /// fp16: the layer groups allowed fp16 arithmetic (see `FP16ArithmeticPolicy`).
  let fp16ArithmeticGroups: Set<String>
  /// The layer groups that run in int8 (empty unless the network runs in int8): their layers
  /// get no Winograd weights.
  let int8Groups: Set<String>

  init(
    parameters: [String: [Float]], halfWeights: Bool, int8Groups: Set<String> = [],
    fp16ArithmeticGroups: Set<String> = []
  ) {
    self.parameters = parameters
    self.int8Groups = int8Groups
    self.fp16ArithmeticGroups = halfWeights ? fp16ArithmeticGroups : []
    // Every parameter of this network belongs to a convolution: size the storage from them.
    // (Packed size depends only on outputs x values per output, not on how those split into
    // input channels and taps.)
    var total = 0
    var largest = 0
    var biases = 0
    // The Winograd buffer's size: the largest layer that could be eligible (any 3x3 layer,
    // counted generously: a 1x1 layer whose inputs are a multiple of 9 counts too).
    var winogradFloats = 0
    var winogradChannels = 0
    for (name, values) in parameters where name.hasSuffix(".weight") {
      let biasName = String(name.dropLast(".weight".count)) + ".bias"
      guard let bias = parameters[biasName], !bias.isEmpty, values.count % bias.count == 0 else { continue }
      let layout = ConvWeightLayout(inputChannels: values.count / bias.count, outputChannels: bias.count, taps: 1)
      total += WeightStorage.floatCount(for: layout)
      largest = max(largest, layout.packedWeightCount)
      biases += WeightStorage.biasFloatCount(for: layout)
      let perOutput = values.count / bias.count
      if perOutput % 9 == 0
        && WinogradPolicy.eligible(
          kernelSize: 3, stride: 1, inputChannels: perOutput / 9, outputChannels: bias.count)
      {
        let w = WinogradLayout(inputChannels: perOutput / 9, outputChannels: bias.count)
        winogradFloats = max(winogradFloats, w.packedWeightCount)
        winogradChannels = max(winogradChannels, w.paddedOutputChannels)
      }
    }
    storage = WeightStorage(
      floatCount: total, halfWeights: halfWeights, largestLayer: largest, biasFloats: biases,
      winograd: winogradFloats > 0 ? (winogradFloats, winogradChannels) : nil)
  }

  func values(_ name: String, count: Int) throws(ModelError) -> [Float] {
    guard let v = parameters[name] else { throw ModelError("missing parameter \(name)") }
    guard v.count == count else {
      throw ModelError("parameter \(name) has \(v.count) values, expected \(count)")
    }
    return v
  }

  /// A convolution `name` (`name.weight` [cout, cin, k, k], `name.bias` [cout]).
  func conv(
    _ name: String, cin: Int, cout: Int, kernel: Int = 3, stride: Int = 1, epilogue: Epilogue,
    outputOrder: ((Int) -> Int)? = nil, winograd: Bool = true
  ) throws(ModelError) -> Conv2D {
    let w = try values(name + ".weight", count: cout * cin * kernel * kernel)
    let b = try values(name + ".bias", count: cout)
    let layout = ConvWeightLayout(inputChannels: cin, outputChannels: cout, taps: kernel * kernel)
    guard storage.used + WeightStorage.floatCount(for: layout) <= storage.capacity else {
      throw ModelError("parameter \(name).bias has no matching weight shape [\(cout), \(cin), \(kernel), \(kernel)]")
    }
    let packed = storage.packLayer(layout, weights: w, bias: b, outputOrder: outputOrder ?? { $0 })
    var layer = Conv2D(
      name: name, kernelSize: kernel, stride: stride, epilogue: epilogue, weights: packed.weights,
      halfWeights: packed.half)
    if fp16ArithmeticGroups.contains(Int8Policy.group(of: name)) { layer = layer.allowingFP16Arithmetic() }
    if outputOrder == nil {
      layer = w.withUnsafeBufferPointer { wp in
        b.withUnsafeBufferPointer { bp in layer.withNarrowOutput(oihw: wp.baseAddress!, bias: bp.baseAddress!) }
      }
    }
    // In int8 networks the quantised layers run int8 (no Winograd weights), except where
    // Winograd beats the int8 kernel (`Int8Policy.winogradOverInt8`: they get both).
    let int8Layer = Int8Policy.mayQuantize(layer, groups: int8Groups)
    if winograd && (!int8Layer || Int8Policy.winogradOverInt8)
      && WinogradPolicy.eligible(kernelSize: kernel, stride: stride, inputChannels: cin, outputChannels: cout)
    {
      let layout = WinogradLayout(inputChannels: cin, outputChannels: cout)
      layer.winograd = storage.winograd(layout, bias: packed.weights.bias)
    }
    if Int8Policy.isCandidate(layer) {
      layer.int8Slot = int8Candidates.layers.count
      int8Candidates.layers.append(
        Int8Candidate(layer: layer, weights: w, bias: b, outputOrder: outputOrder ?? { $0 }))
    }
    return layer
  }

  /// A `DCN_sep` module: its offset/mask predictor and its deformable convolution.
  func deformable(_ name: String, channels: Int, groups: Int, epilogue: Epilogue) throws(ModelError) -> DeformableLayer
  {
    let offsets = try conv(name + ".conv_offset_mask", cin: channels, cout: 27 * groups, epilogue: .none)
    let main = try conv(name, cin: channels, cout: channels, epilogue: epilogue, winograd: false)
    return DeformableLayer(
      offsets: offsets,
      deform: DeformableConv2D(
        name: name, groups: groups, epilogue: epilogue, weights: main.weights, halfWeights: main.halfWeights,
        halfArithmeticWeights: main.halfArithmeticWeights))
  }
}

/// One `DCN_sep`: the conv that predicts offsets and mask, and the deformable conv.
struct DeformableLayer {
  let offsets: Conv2D
  let deform: DeformableConv2D
}

/// One residual block: `x + conv2(relu(conv1(x)))`, computed in place.
struct ResidualBlock {
  let conv1: Conv2D
  let conv2: Conv2D

  init(_ packer: WeightPacker, _ name: String, channels: Int) throws(ModelError) {
    conv1 = try packer.conv(name + ".conv1", cin: channels, cout: channels, epilogue: .relu)
    conv2 = try packer.conv(name + ".conv2", cin: channels, cout: channels, epilogue: .residual)
  }
}

/// The pyramid convs of stage A (A3-A6) or of a state aligner.
struct PyramidLayers {
  let l2conv1: Conv2D
  let l2conv2: Conv2D
  let l3conv1: Conv2D
  let l3conv2: Conv2D

  init(_ packer: WeightPacker, prefix: String, channels c: Int) throws(ModelError) {
    l2conv1 = try packer.conv(prefix + "fea_L2_conv1", cin: c, cout: c, stride: 2, epilogue: .leakyRelu)
    l2conv2 = try packer.conv(prefix + "fea_L2_conv2", cin: c, cout: c, epilogue: .leakyRelu)
    l3conv1 = try packer.conv(prefix + "fea_L3_conv1", cin: c, cout: c, stride: 2, epilogue: .leakyRelu)
    l3conv2 = try packer.conv(prefix + "fea_L3_conv2", cin: c, cout: c, epilogue: .leakyRelu)
  }
}

/// One direction `_s` of a `pcd_align` block (docs/architecture.md §3).
struct AlignLayers {
  let l3offset1, l3offset2: Conv2D
  let l3dcn: DeformableLayer
  let l2offset1, l2offset2, l2offset3: Conv2D
  let l2dcn: DeformableLayer
  let l2fea: Conv2D
  let l1offset1, l1offset2, l1offset3: Conv2D
  let l1dcn: DeformableLayer
  let l1fea: Conv2D

  init(_ p: WeightPacker, prefix: String, suffix s: Int, channels c: Int, groups g: Int) throws(ModelError) {
    let n = { (key: String) in "\(prefix)\(key)_\(s)" }
    l3offset1 = try p.conv(n("L3_offset_conv1"), cin: 2 * c, cout: c, epilogue: .leakyRelu)
    l3offset2 = try p.conv(n("L3_offset_conv2"), cin: c, cout: c, epilogue: .leakyRelu)
    l3dcn = try p.deformable(n("L3_dcnpack"), channels: c, groups: g, epilogue: .leakyRelu)
    l2offset1 = try p.conv(n("L2_offset_conv1"), cin: 2 * c, cout: c, epilogue: .leakyRelu)
    l2offset2 = try p.conv(n("L2_offset_conv2"), cin: 2 * c, cout: c, epilogue: .leakyRelu)
    l2offset3 = try p.conv(n("L2_offset_conv3"), cin: c, cout: c, epilogue: .leakyRelu)
    l2dcn = try p.deformable(n("L2_dcnpack"), channels: c, groups: g, epilogue: .none)
    l2fea = try p.conv(n("L2_fea_conv"), cin: 2 * c, cout: c, epilogue: .leakyRelu)
    l1offset1 = try p.conv(n("L1_offset_conv1"), cin: 2 * c, cout: c, epilogue: .leakyRelu)
    l1offset2 = try p.conv(n("L1_offset_conv2"), cin: 2 * c, cout: c, epilogue: .leakyRelu)
    l1offset3 = try p.conv(n("L1_offset_conv3"), cin: c, cout: c, epilogue: .leakyRelu)
    l1dcn = try p.deformable(n("L1_dcnpack"), channels: c, groups: g, epilogue: .none)
    l1fea = try p.conv(n("L1_fea_conv"), cin: 2 * c, cout: c, epilogue: .none)
  }
}

/// A `pcd_align` block (both directions) and the 1x1 fusion that follows it.
struct PCDLayers {
  let forward: AlignLayers
  let backward: AlignLayers
  let fusion: Conv2D

  init(_ p: WeightPacker, alignPrefix: String, fusionName: String, channels c: Int, groups g: Int)
    throws(ModelError)
  {
    forward = try AlignLayers(p, prefix: alignPrefix, suffix: 1, channels: c, groups: g)
    backward = try AlignLayers(p, prefix: alignPrefix, suffix: 2, channels: c, groups: g)
    fusion = try p.conv(fusionName, cin: 2 * c, cout: c, kernel: 1, epilogue: .none)
  }
}

/// A state aligner `pcd_h` / `pcd_c` (`Easy_PCD`, docs/architecture.md §5.1).
struct StateAlignLayers {
  let pyramid: PyramidLayers
  let pcd: PCDLayers

  init(_ p: WeightPacker, prefix: String, channels c: Int, groups g: Int) throws(ModelError) {
    pyramid = try PyramidLayers(p, prefix: prefix, channels: c)
    pcd = try PCDLayers(p, alignPrefix: prefix + "pcd_align.", fusionName: prefix + "fusion", channels: c, groups: g)
  }
}
