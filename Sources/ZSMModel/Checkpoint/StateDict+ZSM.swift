extension StateDict {
  /// Loads a Zooming Slow-Mo checkpoint, infers its configuration and verifies it strictly
  /// (every parameter present with the right shape, nothing extra).
  ///
  /// - Throws: `CheckpointError` naming `path`: a loading problem, `.configurationInference`,
  ///   `.verification(report)` listing every missing, unexpected and mis-shaped tensor, or
  ///   `.invalidTensor` for a tensor holding NaN or an infinity (it would give black frames).
  public static func loadZSM(path: String) throws(CheckpointError) -> (stateDict: StateDict, config: ZSMConfig) {
    let stateDict = try load(path: path)
    do throws(CheckpointError) {
      let config = try ZSMConfig(inferringFrom: stateDict)
      try stateDict.verifyStrict(against: config)
      try stateDict.requireFiniteValues()
      return (stateDict, config)
    } catch {
      throw error.attributed(to: path)
    }
  }
}

extension StateDict {
  /// Throws `.invalidTensor` naming the first tensor that holds NaN or an infinity, and where.
  public func requireFiniteValues() throws(CheckpointError) {
    for tensor in tensors {
      guard let i = tensor.data.firstIndex(where: { !$0.isFinite }) else { continue }
      let count = tensor.data.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
      throw CheckpointError(
        .invalidTensor,
        "tensor \(tensor.name) holds \(tensor.data[i].isNaN ? "NaN" : "an infinity") at element \(i)"
          + " (\(count) of \(tensor.data.count) values are not finite); refusing to run on it")
    }
  }
}
