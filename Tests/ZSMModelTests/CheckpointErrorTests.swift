import Foundation
import XCTest
import ZSMModel

/// Every way a checkpoint can be wrong yields a specific, named error (and never a crash).
final class CheckpointErrorTests: XCTestCase {
  private func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

  func testMissingAndEmptyFiles() throws {
    let missing = TestPaths.temporary("absent.pth")
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.load(path: missing) },
      kind: .fileAccess, contains: [missing, "cannot open", "No such file"])
    let empty = TestPaths.temporary("empty.pth")
    XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
    defer { try? FileManager.default.removeItem(atPath: empty) }
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.load(path: empty) },
      kind: .unrecognizedContainer, contains: [empty, "the file is empty"])
  }

  func testZipTruncatedAtSeveralPoints() throws {
    let whole = try bytes(TestPaths.fixture("tiny_16x12_n2", "model.pth"))
    for cut in [4, 10, 30, 200, 42_100, whole.count / 2, whole.count - 100, whole.count - 30, whole.count - 1] {
      assertCheckpointError(
        { () throws(CheckpointError) in try StateDict.decode(Array(whole.prefix(cut))) },
        kind: .truncated, contains: ["end-of-central-directory"])
    }
  }

  func testLegacyTruncatedAtSeveralPoints() throws {
    let whole = try bytes(TestPaths.fixture("tiny_16x12_n2", "model_legacy.pth"))
    let cases: [(Int, String)] = [
      (1, "PROTO"), (5, "LONG1"), (18, "BININT2"), (100, "input ends inside"), (5_000, "input ends inside"),
      (45_300, "input ends inside"), (50_447, "element count of legacy storage"),
      (whole.count - 7, "announces 1152 elements of 4 bytes; only 4601 bytes remain"),
    ]
    for (cut, message) in cases {
      assertCheckpointError(
        { () throws(CheckpointError) in try StateDict.decode(Array(whole.prefix(cut))) },
        kind: .truncated, contains: [message])
    }
  }

  /// Every proper prefix of a small checkpoint is refused, in both containers.
  func testEveryTruncationOfSmallFilesIsRefused() throws {
    for file in ["small.pth", "small_legacy.pth", "shared_legacy.pth", "fp16_legacy.pth"] {
      let whole = try bytes(TestPaths.data(file))
      for cut in 0..<whole.count {
        XCTAssertThrowsError(try StateDict.decode(Array(whole.prefix(cut))), "\(file) cut at \(cut)")
      }
    }
  }

  func testZipWithMissingRecord() {
    let path = TestPaths.data("missing_record.pth")
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.load(path: path) },
      kind: .missingRecord, contains: [path, "no record small/data/1", "tensor a.bias"])
  }

  /// A flipped bit in a storage record is caught by the record's CRC-32.
  func testCorruptedZipRecordFailsItsChecksum() throws {
    var corrupted = try bytes(TestPaths.fixture("tiny_16x12_n2", "model.pth"))
    corrupted[42_560 + 100] ^= 0x10  // model/data/0 (conv_first.weight) starts at 42,560
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(corrupted) },
      kind: .malformedZip, contains: ["zip entry model/data/0 is corrupted", "CRC-32"])
  }

  func testZipWithoutPickleIsNotACheckpoint() {
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.load(path: TestPaths.data("not_torch.zip")) },
      kind: .missingRecord, contains: ["no <folder>/data.pkl record", "1 entries: notes/readme.txt"])
  }

  func testCompressedZipIsRefused() {
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.load(path: TestPaths.data("compressed.pth")) },
      kind: .unsupportedZip, contains: ["compressed (method 8, deflate)", "only STORED"])
  }

  func testNonFloat32TensorIsReportedByName() {
    for file in ["fp16.pth", "fp16_legacy.pth"] {
      assertCheckpointError(
        { () throws(CheckpointError) in try StateDict.load(path: TestPaths.data(file)) },
        kind: .unsupportedDType, contains: ["tensor conv_first.weight has dtype float16", "expected float32"])
    }
  }

  func testStorageTooSmall() {
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.load(path: TestPaths.data("storage_too_small.pth")) },
      kind: .invalidTensor, contains: ["tensor a.weight with shape [2, 3] needs 6 elements", "holds 4"])
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.load(path: TestPaths.data("short_record.pth")) },
      kind: .invalidTensor, contains: ["storage 0 of tensor a.weight holds 16 bytes", "declares 6 elements"])
    // A hand-built legacy file whose tensor starts past the end of its storage.
    let pastEnd = PickleBytes.legacyTensor(name: "w", numel: 4, offset: 2, shape: [3], stride: [1], data: [1, 2, 3, 4])
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(pastEnd) },
      kind: .invalidTensor, contains: ["tensor w with shape [3] needs 3 elements from offset 2", "holds 4"])
    let fits = PickleBytes.legacyTensor(name: "w", numel: 4, offset: 1, shape: [3], stride: [1], data: [1, 2, 3, 4])
    XCTAssertEqual(try StateDict.decode(fits), StateDict(tensors: [.init(name: "w", shape: [3], data: [2, 3, 4])]))
  }

  func testNonContiguousTensorIsRefused() {
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.load(path: TestPaths.data("noncontiguous.pth")) },
      kind: .invalidTensor,
      contains: ["tensor w with shape [4, 3] has strides [1, 4]", "expected contiguous strides [3, 1]"])
  }

  func testUnrelatedPickles() {
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.load(path: TestPaths.data("int_list.pkl")) },
      kind: .unrecognizedContainer, contains: ["list of 5", "not the legacy PyTorch magic number"])
    for file in ["os_system.pkl", "os_system_protocol4.pkl"] {
      assertCheckpointError(
        { () throws(CheckpointError) in try StateDict.load(path: TestPaths.data(file)) },
        kind: .refusedGlobal, contains: ["refusing pickle global os.system"])
    }
    let eval = PickleBytes.legacy(main: PickleBytes.proto2 + Array("cbuiltins\neval\n".utf8) + [0x2E])
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(eval) },
      kind: .refusedGlobal, contains: ["refusing pickle global builtins.eval"])
    let inst = PickleBytes.legacy(main: PickleBytes.proto2 + [0x28] + Array("iposix\nsystem\n".utf8))
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(inst) },
      kind: .refusedOpcode, contains: ["refusing pickle opcode INST (0x69, 'i')"])
    let notTensor = PickleBytes.legacy(
      main: PickleBytes.proto2 + [0x7D] + PickleBytes.string("x") + [0x4B, 1, 0x73, 0x2E])
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(notTensor) },
      kind: .notAStateDict, contains: ["state_dict entry x is a int, not a tensor"])
  }

  func testResourceLimits() {
    let deep = PickleBytes.legacy(
      main: PickleBytes.proto2 + [UInt8](repeating: 0x5D, count: 70)
        + [UInt8](repeating: 0x61, count: 69) + [0x2E])
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(deep) },
      kind: .limitExceeded, contains: ["container nesting limit of 64"])
    let hugeString = PickleBytes.legacy(main: PickleBytes.proto2 + [0x58, 0, 0, 0, 0x80] + Array("abc".utf8))
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(hugeString) },
      kind: .truncated, contains: ["BINUNICODE", "need 2147483648 bytes, 3 left"])
    let hugeString8 = PickleBytes.legacy(main: PickleBytes.proto2 + [0x8D] + [UInt8](repeating: 0xFF, count: 8))
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(hugeString8) },
      kind: .truncated, contains: ["BINUNICODE8", "announces 18446744073709551615 bytes"])
    // A 1000-item list, memoized, then fetched and grown 1100 times: each append copies it.
    var regrow = PickleBytes.proto2 + [0x5D, 0x28] + [UInt8](repeating: 0x4E, count: 1000) + [0x65, 0x71, 0]
    for _ in 0..<1100 { regrow += [0x68, 0, 0x4E, 0x61] }
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(PickleBytes.legacy(main: regrow)) },
      kind: .limitExceeded, contains: ["container work limit"])
    let unwritten = PickleBytes.legacy(main: PickleBytes.proto2 + [0x68, 7, 0x2E])
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(unwritten) },
      kind: .malformedPickle, contains: ["reads entry 7, which was never written"])
    let underflow = PickleBytes.legacy(main: PickleBytes.proto2 + [0x73, 0x2E])
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(underflow) },
      kind: .malformedPickle, contains: ["SETITEM", "needs more stack items"])
  }

  /// Random bytes, and random corruptions of valid files, must give an error or a result,
  /// never a crash.
  func testRandomAndCorruptedInputsNeverCrash() throws {
    var generator = SplitMix(seed: 2026)
    let random = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
    var randomFile = random
    randomFile[0] = 0x13
    assertCheckpointError(
      { () throws(CheckpointError) in try StateDict.decode(randomFile) },
      kind: .unrecognizedContainer, contains: ["starts with bytes 13", "expected a zip archive"])
    for prefix: [UInt8] in [[0x80], [0x80, 0x02], [0x50, 0x4B, 0x03, 0x04]] {
      for _ in 0..<50 {
        let length = Int.random(in: 0..<512, using: &generator)
        let body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        XCTAssertThrowsError(try StateDict.decode(prefix + body))
      }
    }
    for file in ["small.pth", "small_legacy.pth", "fp16.pth"] {
      let original = try bytes(TestPaths.data(file))
      for _ in 0..<(ProcessInfo.processInfo.environment["ZSM_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 300) {
        var corrupted = original
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
          corrupted[Int.random(in: 0..<corrupted.count, using: &generator)] = UInt8.random(
            in: 0...255, using: &generator)
        }
        _ = try? StateDict.decode(corrupted)
      }
    }
  }
}

/// A small deterministic random number generator for the fuzz test.
struct SplitMix: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
