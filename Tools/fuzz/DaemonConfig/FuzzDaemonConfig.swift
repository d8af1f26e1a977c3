import Foundation
import ZSMPipeline

/// libFuzzer target: a daemon configuration file's bytes, through the strict JSON and key
/// check, the decoder and validation (`DaemonConfig.load` without the file read).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDaemonConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  do {
    _ = try DaemonConfig.decode(Data(bytes: data, count: size), path: "fuzz.json")
  } catch {
    _ = "\(error)"
  }
  return 0
}
