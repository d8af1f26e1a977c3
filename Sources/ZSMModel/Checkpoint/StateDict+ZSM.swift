extension StateDict {
  /// Loads a Zooming Slow-Mo checkpoint, infers its configuration and verifies it strictly
  /// (every parameter present with the right shape, nothing extra).
  ///
  /// - Throws: `CheckpointError` naming `path`: a loading problem, `.configurationInference`,
  ///   or `.verification(report)` listing every missing, unexpected and mis-shaped tensor.
  public static func loadZSM(path: String) throws(CheckpointError) -> (stateDict: StateDict, config: ZSMConfig) {
    let stateDict = try load(path: path)
    do throws(CheckpointError) {
      let config = try ZSMConfig(inferringFrom: stateDict)
      try stateDict.verifyStrict(against: config)
      return (stateDict, config)
    } catch {
      throw error.attributed(to: path)
    }
  }
}
