import ZSMRuntime

/// Loads, strictly verifies and packs a checkpoint in `precision`. For int8 it hashes the
/// checkpoint (sha256) and loads the calibration table made for it: `calibration` when given,
/// else `Calibration/<sha256>-int8.json` under `calibrationDirectory`. Every error names the file
/// and says what to do (a missing table names the command that makes one). `int8Groups`: the
/// layer groups that run in int8 (`Int8Policy.groups`; others for measurements).
public func loadZSMNetwork(
  model path: String, threads: Int, precision: Precision = .fp32, calibration: String? = nil,
  calibrationDirectory: String = "Calibration", int8Groups: Set<String> = Int8Policy.groups
) throws(ModelError) -> ZSMNetwork {
  let stateDict: StateDict
  let config: ZSMConfig
  do { (stateDict, config) = try StateDict.loadZSM(path: path) } catch { throw ModelError(error.description) }
  var table: CalibrationTable?
  if precision == .int8 {
    if let reason = Int8Policy.unavailableReason { throw ModelError("--precision int8: \(reason)") }
    do {
      let sha = try SHA256.hexDigest(ofFileAt: path)
      let tablePath = calibration ?? CalibrationTable.defaultPath(directory: calibrationDirectory, modelSHA256: sha)
      table = try CalibrationTable.load(path: tablePath, expectedModelSHA256: sha)
    } catch {
      throw ModelError(error.description.replacingModelPlaceholder(with: path))
    }
  }
  do {
    return try ZSMNetwork(
      stateDict: stateDict, config: config, threads: threads, precision: precision, calibration: table,
      int8Groups: int8Groups)
  } catch {
    throw ModelError("\(path): \(error.description.replacingModelPlaceholder(with: path))")
  }
}

extension String {
  /// The calibration errors' "zsm calibrate --model MODEL" with the real path filled in.
  fileprivate func replacingModelPlaceholder(with path: String) -> String {
    let marker = "--model MODEL"
    var out = ""
    var rest = Substring(self)
    while let i = rest.indices.first(where: { rest[$0...].hasPrefix(marker) }) {
      out += rest[..<i] + "--model " + path
      rest = rest[rest.index(i, offsetBy: marker.count)...]
    }
    return out + rest
  }
}
