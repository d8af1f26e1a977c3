import ZSMModel

/// libFuzzer target: an int8 calibration table's bytes, as `CalibrationTable.load` decodes them
/// (UTF-8 with replacement, then the JSON and field checks), and the JSON it writes back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCalibration(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  do throws(CalibrationError) {
    let table = try CalibrationTable.parse(text)
    // What a valid table writes must parse back to the same table.
    guard (try? CalibrationTable.parse(table.json())) == table else {
      fatalError("calibration table does not survive json() -> parse()")
    }
  } catch {
    _ = error.message
  }
  return 0
}
