import Foundation
import XCTest
import ZSMModel

/// Asserts that `body` throws a `CheckpointError` of `kind` whose description contains every
/// string of `parts`; returns the error.
@discardableResult
func assertCheckpointError<T>(
  _ body: () throws(CheckpointError) -> T, kind: CheckpointError.Kind, contains parts: [String],
  file: StaticString = #filePath, line: UInt = #line
) -> CheckpointError? {
  do throws(CheckpointError) {
    _ = try body()
    XCTFail("expected a \(kind) error containing \(parts); nothing was thrown", file: file, line: line)
    return nil
  } catch {
    XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
    for part in parts {
      XCTAssertTrue(error.description.contains(part), "\"\(error)\" lacks \"\(part)\"", file: file, line: line)
    }
    return error
  }
}

/// Small builders for hand-made pickles and legacy containers.
enum PickleBytes {
  /// `PROTO 2`.
  static let proto2: [UInt8] = [0x80, 0x02]

  /// SHORT_BINUNICODE of `text`.
  static func string(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }

  /// BININT of `value`.
  static func int(_ value: Int32) -> [UInt8] {
    [0x4A] + withUnsafeBytes(of: value.littleEndian) { Array($0) }
  }

  /// The legacy container: magic, version 1001, an empty sys_info, then `main` and `rest`.
  static func legacy(main: [UInt8], rest: [UInt8] = []) -> [UInt8] {
    let magic: [UInt8] = proto2 + [0x8A, 10, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
    let version: [UInt8] = proto2 + [0x4D, 0xE9, 0x03, 0x2E]
    let info: [UInt8] = proto2 + [0x7D, 0x2E]
    return magic + version + info + main + rest
  }

  /// A state_dict pickle `{name: _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel),
  /// offset, shape, stride, False, OrderedDict())}` followed by the legacy key list and data.
  static func legacyTensor(
    name: String, numel: Int32, offset: Int32, shape: [Int32], stride: [Int32], data: [Float]
  ) -> [UInt8] {
    var main = proto2 + [0x7D, 0x28] + string(name)  // EMPTY_DICT MARK name
    main += Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]  // callable, MARK args
    main += [0x28] + string("storage") + Array("ctorch\nFloatStorage\n".utf8) + string("k") + string("cpu")
    main += int(numel) + [0x74, 0x51]  // TUPLE BINPERSID
    // One append per part: Swift 6.2 cannot type-check the whole sum in reasonable time.
    main += int(offset) + [0x28]
    main += shape.flatMap(int)
    main += [0x74, 0x28]
    main += stride.flatMap(int)
    main += [0x74]
    main += [0x89] + Array("ccollections\nOrderedDict\n".utf8) + [0x29, 0x52]  // False, OrderedDict()
    main += [0x74, 0x52, 0x75, 0x2E]  // TUPLE REDUCE SETITEMS STOP
    let keys = proto2 + [0x5D, 0x28] + string("k") + [0x65, 0x2E]
    var table = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
    for value in data { table += withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
    return legacy(main: main, rest: keys + table)
  }
}
