import ZSMModel

/// libFuzzer target: the safe unpickler alone, on a sequence of pickles (as a legacy checkpoint
/// holds them), without the container checks in front of it that the checkpoint target meets.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUnpickler(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  do throws(CheckpointError) {
    _ = try SafeUnpickler.kindsOfPickles(in: bytes)
  } catch {
    _ = error.description
  }
  return 0
}
