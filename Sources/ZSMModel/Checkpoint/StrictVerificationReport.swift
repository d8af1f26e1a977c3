/// What `load_state_dict(strict=True)` would complain about: tensors the network needs but
/// the checkpoint lacks, tensors the checkpoint has but the network does not, and tensors
/// whose shapes differ. All of them are listed, by name.
public struct StrictVerificationReport: Equatable, Sendable, CustomStringConvertible {
  /// A tensor present on both sides with different shapes.
  public struct ShapeMismatch: Equatable, Sendable {
    public let name: String
    /// The shape the network needs.
    public let expected: [Int]
    /// The shape in the checkpoint.
    public let found: [Int]

    public init(name: String, expected: [Int], found: [Int]) {
      self.name = name
      self.expected = expected
      self.found = found
    }
  }

  /// The configuration checked against.
  public let config: ZSMConfig
  /// Names the network needs that the checkpoint lacks, in registration order.
  public let missing: [String]
  /// Names in the checkpoint the network does not have, in file order.
  public let unexpected: [String]
  /// Tensors with the wrong shape, in registration order.
  public let misShaped: [ShapeMismatch]

  /// Whether the checkpoint matches the network exactly.
  public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && misShaped.isEmpty }

  /// Compares `stateDict` with `config.expectedParameters()`.
  public init(stateDict: StateDict, config: ZSMConfig) {
    self.config = config
    let expected = config.expectedParameters()
    var expectedShapes: [String: [Int]] = [:]
    for (name, shape) in expected { expectedShapes[name] = shape }
    var missing: [String] = []
    var misShaped: [ShapeMismatch] = []
    for (name, shape) in expected {
      guard let tensor = stateDict[name] else {
        missing.append(name)
        continue
      }
      if tensor.shape != shape { misShaped.append(ShapeMismatch(name: name, expected: shape, found: tensor.shape)) }
    }
    self.missing = missing
    self.misShaped = misShaped
    self.unexpected = stateDict.names.filter { expectedShapes[$0] == nil }
  }

  /// A multi-line summary in the manner of PyTorch's `load_state_dict` error.
  public var description: String {
    guard !isClean else { return "the checkpoint matches \(config) exactly" }
    var lines = ["the checkpoint does not match \(config):"]
    if !missing.isEmpty {
      lines.append("  missing \(missing.count) tensor(s): " + missing.joined(separator: ", "))
    }
    if !unexpected.isEmpty {
      lines.append("  unexpected \(unexpected.count) tensor(s): " + unexpected.joined(separator: ", "))
    }
    for mismatch in misShaped {
      lines.append(
        "  size mismatch for \(mismatch.name): checkpoint has \(mismatch.found), network needs \(mismatch.expected)")
    }
    return lines.joined(separator: "\n")
  }
}

extension StateDict {
  /// The strict comparison of this state_dict with the network of `config`.
  public func strictVerificationReport(against config: ZSMConfig) -> StrictVerificationReport {
    StrictVerificationReport(stateDict: self, config: config)
  }

  /// Checks, like PyTorch's `load_state_dict(strict=True)`, that this state_dict holds exactly
  /// the network's parameters with the right shapes.
  ///
  /// - Throws: `CheckpointError` of kind `.verification(report)` listing every missing,
  ///   unexpected and mis-shaped tensor by name.
  public func verifyStrict(against config: ZSMConfig) throws(CheckpointError) {
    let report = strictVerificationReport(against: config)
    guard report.isClean else { throw CheckpointError(.verification(report), report.description) }
  }
}
