extension ZSMConfig {
  /// Every parameter of the network, in upstream registration order (docs/architecture.md §9.1–9.3),
  /// with its shape. Convolution weights are `[out, in, kh, kw]`; weights precede biases.
  ///
  /// The upsampling tail is `tailWidth` wide (§6; upstream hard-wires 64 whatever `nf` is):
  /// `upconv2` is nf→4·tailWidth, `HRconv` tailWidth→tailWidth, `conv_last` tailWidth→3.
  /// ZSM-Lite's `global_skip` marker `[1]` comes first, as PyTorch lists a top-level buffer.
  public func expectedParameters() -> [(name: String, shape: [Int])] {
    var list = ParameterList()
    if globalSkip { list.items.append((Self.globalSkipKey, [1])) }
    let c = nf
    list.conv("conv_first", out: c, in: 3, kernel: 3)
    for r in 0..<max(0, frontRBs) { list.residualBlock("feature_extraction.\(r)", width: c) }
    list.pyramidConvs(prefix: "", width: c)
    list.alignment(prefix: "pcd_align.", width: c, offsetChannels: 27 * groups)
    list.conv("fusion", out: c, in: 2 * c, kernel: 1)
    let lstm = "ConvBLSTM.forward_net."
    list.conv(lstm + "cell_list.0.conv", out: 4 * c, in: 2 * c, kernel: 3)
    for state in ["pcd_h", "pcd_c"] {
      let prefix = lstm + state + "."
      list.pyramidConvs(prefix: prefix, width: c)
      list.alignment(prefix: prefix + "pcd_align.", width: c, offsetChannels: 27 * groups)
      list.conv(prefix + "fusion", out: c, in: 2 * c, kernel: 1)
    }
    list.conv("ConvBLSTM.conv_1x1", out: c, in: 2 * c, kernel: 1)
    for r in 0..<max(0, backRBs) { list.residualBlock("recon_trunk.\(r)", width: c) }
    list.conv("upconv1", out: 4 * c, in: c, kernel: 3)
    list.conv("upconv2", out: 4 * tailWidth, in: c, kernel: 3)
    list.conv("HRconv", out: tailWidth, in: tailWidth, kernel: 3)
    list.conv("conv_last", out: 3, in: tailWidth, kernel: 3)
    return list.items
  }

  /// The total number of parameters of `expectedParameters()`.
  public func expectedParameterCount() -> Int {
    expectedParameters().reduce(0) { $0 + $1.shape.reduce(1, *) }
  }
}

/// Accumulates (name, shape) pairs for `expectedParameters()`.
private struct ParameterList {
  var items: [(name: String, shape: [Int])] = []

  /// A convolution with bias: `<name>.weight [out, in, k, k]`, `<name>.bias [out]`.
  mutating func conv(_ name: String, out: Int, in input: Int, kernel: Int) {
    items.append((name + ".weight", [out, input, kernel, kernel]))
    items.append((name + ".bias", [out]))
  }

  /// `conv1` then `conv2`, both 3×3 width→width (§2).
  mutating func residualBlock(_ prefix: String, width: Int) {
    conv(prefix + ".conv1", out: width, in: width, kernel: 3)
    conv(prefix + ".conv2", out: width, in: width, kernel: 3)
  }

  /// `fea_L2_conv1`, `fea_L2_conv2`, `fea_L3_conv1`, `fea_L3_conv2`, all 3×3 width→width.
  mutating func pyramidConvs(prefix: String, width: Int) {
    for name in ["fea_L2_conv1", "fea_L2_conv2", "fea_L3_conv1", "fea_L3_conv2"] {
      conv(prefix + name, out: width, in: width, kernel: 3)
    }
  }

  /// A DCN_sep block: the deformable conv's own weight and bias, then the offset/mask conv.
  mutating func deformable(_ name: String, width: Int, offsetChannels: Int) {
    conv(name, out: width, in: width, kernel: 3)
    conv(name + ".conv_offset_mask", out: offsetChannels, in: width, kernel: 3)
  }

  /// The two-way pyramid alignment block of §9.2: the `_1` list, then the `_2` list.
  mutating func alignment(prefix: String, width c: Int, offsetChannels: Int) {
    for s in 1...2 {
      conv(prefix + "L3_offset_conv1_\(s)", out: c, in: 2 * c, kernel: 3)
      conv(prefix + "L3_offset_conv2_\(s)", out: c, in: c, kernel: 3)
      deformable(prefix + "L3_dcnpack_\(s)", width: c, offsetChannels: offsetChannels)
      conv(prefix + "L2_offset_conv1_\(s)", out: c, in: 2 * c, kernel: 3)
      conv(prefix + "L2_offset_conv2_\(s)", out: c, in: 2 * c, kernel: 3)
      conv(prefix + "L2_offset_conv3_\(s)", out: c, in: c, kernel: 3)
      deformable(prefix + "L2_dcnpack_\(s)", width: c, offsetChannels: offsetChannels)
      conv(prefix + "L2_fea_conv_\(s)", out: c, in: 2 * c, kernel: 3)
      conv(prefix + "L1_offset_conv1_\(s)", out: c, in: 2 * c, kernel: 3)
      conv(prefix + "L1_offset_conv2_\(s)", out: c, in: 2 * c, kernel: 3)
      conv(prefix + "L1_offset_conv3_\(s)", out: c, in: c, kernel: 3)
      deformable(prefix + "L1_dcnpack_\(s)", width: c, offsetChannels: offsetChannels)
      conv(prefix + "L1_fea_conv_\(s)", out: c, in: 2 * c, kernel: 3)
    }
  }
}
