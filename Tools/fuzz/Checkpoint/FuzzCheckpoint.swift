import ZSMModel

/// libFuzzer target: a checkpoint file's bytes, through the same decoder `StateDict.load` uses
/// (zip or legacy container, the safe unpickler, the tensor assembler), then the checks a
/// loaded checkpoint goes through (configuration inference, finite values, strict verification).
/// Any outcome but a trap is a pass: a typed error is the expected answer to bad bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  do throws(CheckpointError) {
    let stateDict = try StateDict.decode(bytes)
    try stateDict.requireFiniteValues()
    let config = try ZSMConfig(inferringFrom: stateDict)
    _ = stateDict.strictVerificationReport(against: config)
  } catch {
    _ = error.description
  }
  return 0
}
