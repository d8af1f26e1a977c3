import ZSMRuntime

/// libFuzzer target: a board profile's bytes (Boards/*.json), through `BoardProfile.parse`
/// (MiniJSON, then every field's type and range checks).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBoard(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  do throws(BoardError) {
    _ = try BoardProfile.parse(bytes, source: "fuzz.json")
  } catch {
    _ = error.description
  }
  return 0
}
