/// The hyper-parameters of a Zooming Slow-Mo network that shape its weights
/// (docs/architecture.md §1): feature width, deformable groups and residual block counts; and the two
/// options of the ZSM-Lite variant (Models/README.md): the width of the ×4 tail and the global
/// skip.
public struct ZSMConfig: Equatable, Hashable, Sendable, CustomStringConvertible {
  /// Feature channels `C` (64 in the released model).
  public var nf: Int
  /// Deformable groups `G` of every DCN (8).
  public var groups: Int
  /// Residual blocks in the feature extractor (5).
  public var frontRBs: Int
  /// Residual blocks in the reconstruction trunk (40).
  public var backRBs: Int
  /// Channels of the ×4 tail: `upconv2` is nf→4·tailWidth, `HRconv` tailWidth→tailWidth,
  /// `conv_last` tailWidth→3. Upstream hard-wires 64; ZSM-Lite makes it smaller.
  public var tailWidth: Int
  /// ZSM-Lite: every output frame adds the ×4 bicubic of its input frame (the mean of the two
  /// neighbours' at interpolated positions). Marked in the checkpoint by the one-element tensor
  /// `global_skip` (value 1: bicubic).
  public var globalSkip: Bool

  public init(nf: Int, groups: Int, frontRBs: Int, backRBs: Int, tailWidth: Int = 64, globalSkip: Bool = false) {
    self.nf = nf
    self.groups = groups
    self.frontRBs = frontRBs
    self.backRBs = backRBs
    self.tailWidth = tailWidth
    self.globalSkip = globalSkip
  }

  /// The checkpoint key that marks the global skip (a registered buffer in PyTorch).
  public static let globalSkipKey = "global_skip"
  /// The value of `global_skip` this runtime implements: ×4 bicubic (a = −0.75).
  public static let globalSkipBicubic: Float = 1

  /// "ZSM-Lite" for a checkpoint with the global skip, else "Zooming Slow-Mo".
  public var variantName: String { globalSkip ? "ZSM-Lite" : "Zooming Slow-Mo" }

  /// The released model's configuration: nf 64, groups 8, 5 front and 40 back blocks.
  public static let released = ZSMConfig(nf: 64, groups: 8, frontRBs: 5, backRBs: 40)

  /// For people: "nf 64, 8 deformable groups, 5 + 40 residual blocks" (the released model),
  /// with the tail width and the bicubic skip when they differ from it.
  public var description: String {
    var text = "nf \(nf), \(groups) deformable groups, \(frontRBs) + \(backRBs) residual blocks"
    if tailWidth != 64 { text += ", tail width \(tailWidth)" }
    if globalSkip { text += ", bicubic skip" }
    return text
  }

  /// Reads the configuration off a state_dict's names and shapes:
  /// - `nf` from `conv_first.weight` `[nf, 3, 3, 3]`;
  /// - `groups` from `pcd_align.L3_dcnpack_1.conv_offset_mask.weight` `[3·groups·9, nf, 3, 3]`;
  /// - `frontRBs` / `backRBs` as the number of `feature_extraction.{r}.conv1.weight` /
  ///   `recon_trunk.{r}.conv1.weight` tensors (a gap in `r` then shows up as missing and
  ///   unexpected tensors in `StateDict.verifyStrict(against:)`);
  /// - `tailWidth` from `HRconv.weight` `[tw, tw, 3, 3]` (64 when that tensor is missing, which
  ///   strict verification then reports);
  /// - `globalSkip` from the presence of `global_skip`.
  ///
  /// Only these tensors are looked at; use `verifyStrict` to check everything else.
  public init(inferringFrom stateDict: StateDict) throws(CheckpointError) {
    let first = try Self.shape(of: "conv_first.weight", in: stateDict)
    guard first.count == 4, first[1] == 3, first[2] == 3, first[3] == 3, first[0] > 0 else {
      throw CheckpointError(
        .configurationInference, "conv_first.weight has shape \(first); expected [nf, 3, 3, 3]")
    }
    let nf = first[0]
    let offsetKey = "pcd_align.L3_dcnpack_1.conv_offset_mask.weight"
    let offsets = try Self.shape(of: offsetKey, in: stateDict)
    guard offsets.count == 4, offsets[0] > 0, offsets[0] % 27 == 0, offsets[1] == nf, offsets[2] == 3,
      offsets[3] == 3
    else {
      throw CheckpointError(
        .configurationInference, "\(offsetKey) has shape \(offsets); expected [3*groups*9, \(nf), 3, 3]")
    }
    var tailWidth = 64
    if let hr = stateDict["HRconv.weight"]?.shape {
      guard hr.count == 4, hr[0] > 0, hr[1] == hr[0], hr[2] == 3, hr[3] == 3 else {
        throw CheckpointError(
          .configurationInference, "HRconv.weight has shape \(hr); expected [tailWidth, tailWidth, 3, 3]")
      }
      tailWidth = hr[0]
    }
    self.init(
      nf: nf, groups: offsets[0] / 27,
      frontRBs: Self.blockCount(prefix: "feature_extraction.", in: stateDict),
      backRBs: Self.blockCount(prefix: "recon_trunk.", in: stateDict), tailWidth: tailWidth,
      globalSkip: stateDict[Self.globalSkipKey] != nil)
  }

  private static func shape(of name: String, in stateDict: StateDict) throws(CheckpointError) -> [Int] {
    guard let tensor = stateDict[name] else {
      throw CheckpointError(
        .configurationInference,
        "cannot infer the network configuration: the checkpoint has no tensor \(name) "
          + "(\(stateDict.tensors.count) tensors, first: \(stateDict.names.first ?? "none"))")
    }
    return tensor.shape
  }

  /// The number of distinct tensors named `<prefix>{r}.conv1.weight` with a decimal `r`.
  private static func blockCount(prefix: String, in stateDict: StateDict) -> Int {
    var indices = Set<Substring>()
    for name in stateDict.names where name.hasPrefix(prefix) && name.hasSuffix(".conv1.weight") {
      let middle = name.dropFirst(prefix.count).dropLast(".conv1.weight".count)
      if !middle.isEmpty, middle.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
        indices.insert(middle)
      }
    }
    return indices.count
  }
}
