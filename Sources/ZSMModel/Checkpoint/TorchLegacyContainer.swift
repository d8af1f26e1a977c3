/// The legacy container `torch.save` wrote before PyTorch 1.6: a sequence of pickles, then
/// raw storage data.
///
/// In order: the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001, a sys_info
/// dict, the main pickle (storages are persistent ids `('storage', type, key, location,
/// numel, view)`), a pickle listing the storage keys, then for each key in that order an
/// 8-byte little-endian element count followed by the elements.
struct TorchLegacyContainer {
  /// The unpickled main object.
  let root: PickleValue
  private let bytes: [UInt8]
  /// Where the storage-key pickle starts.
  private let keysStart: Int

  /// The magic number as LONG1 stores it: little-endian two's complement.
  private static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

  init(bytes: [UInt8]) throws(CheckpointError) {
    self.bytes = bytes
    let all = 0..<bytes.count
    let (magic, afterMagic) = try SafeUnpickler.load(bytes, range: all)
    guard case .bigInt(let digits) = magic, digits == Self.magic else {
      throw CheckpointError(
        .unrecognizedContainer,
        "the first pickle is a \(magic.kindName), not the legacy PyTorch magic number 0x1950a86a20f9469cfc6c; "
          + "this is a pickle but not a PyTorch checkpoint")
    }
    let (version, afterVersion) = try SafeUnpickler.load(bytes, range: afterMagic..<bytes.count)
    guard case .int(1001) = version else {
      let found: String
      if case .int(let number) = version { found = "\(number)" } else { found = "a \(version.kindName)" }
      throw CheckpointError(.unrecognizedContainer, "legacy checkpoint protocol version is \(found); expected 1001")
    }
    let (info, afterInfo) = try SafeUnpickler.load(bytes, range: afterVersion..<bytes.count)
    if case .dict(let dict) = info, let little = dict["little_endian"] {
      guard case .bool(true) = little else {
        throw CheckpointError(.invalidTensor, "the checkpoint was saved big-endian; only little-endian is supported")
      }
    }
    (root, keysStart) = try SafeUnpickler.load(bytes, range: afterInfo..<bytes.count)
  }

  /// Reads the storage-key pickle and the data table that follows it. `storages` are the
  /// storages the tensors reference; they give each key's element size.
  func storageTable(for storages: [StorageRef]) throws(CheckpointError) -> LegacyStorageTable {
    var elementSizes: [String: Int] = [:]
    for storage in storages { elementSizes[storage.key] = storage.dtype.elementSize }
    let (list, dataStart) = try SafeUnpickler.load(bytes, range: keysStart..<bytes.count)
    guard case .list(let keys) = list else {
      throw CheckpointError(.malformedPickle, "the legacy storage-key pickle is a \(list.kindName); expected a list")
    }
    var reader = ByteReader(bytes, range: dataStart..<bytes.count)
    var ranges: [String: Range<Int>] = [:]
    for item in keys.items {
      guard case .string(let key) = item else {
        throw CheckpointError(.malformedPickle, "the legacy storage-key list holds a \(item.kindName); expected str")
      }
      guard let size = elementSizes[key] else {
        throw CheckpointError(
          .malformedPickle, "legacy storage \(key) is listed but no tensor references it, so its size is unknown")
      }
      guard ranges[key] == nil else {
        throw CheckpointError(.malformedPickle, "legacy storage \(key) is listed twice")
      }
      let count = try reader.read(UInt64.self, "the element count of legacy storage \(key)")
      guard count <= UInt64(reader.remaining / size) else {
        throw CheckpointError(
          .truncated,
          "legacy storage \(key) announces \(count) elements of \(size) bytes; only \(reader.remaining) bytes remain")
      }
      let start = reader.position
      try reader.skip(Int(count) * size, "legacy storage \(key)")
      ranges[key] = start..<reader.position
    }
    return LegacyStorageTable(ranges: ranges)
  }
}
