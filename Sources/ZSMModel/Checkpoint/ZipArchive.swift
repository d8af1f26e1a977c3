/// The directory of an uncompressed (STORED) zip archive held in memory, as written by
/// `torch.save` since PyTorch 1.6.
///
/// Reads the end-of-central-directory record (preferring the ZIP64 records when a ZIP64
/// locator is present), then every central directory entry, then each entry's local header
/// to find where its data starts (PyTorch pads the local header's extra field so tensor data
/// is 64-byte aligned). Compressed or encrypted entries are refused when read, and an
/// entry's data must match its CRC-32.
struct ZipArchive {
  /// One file in the archive.
  struct Entry {
    let name: String
    /// Zip compression method (0 = STORED).
    let method: UInt16
    let flags: UInt16
    /// The CRC-32 of the uncompressed data.
    let crc32: UInt32
    let compressedSize: Int
    let uncompressedSize: Int
    let localHeaderOffset: Int
  }

  private let bytes: [UInt8]
  /// Entries in central directory order.
  let entries: [Entry]
  private let index: [String: Int]

  private static let eocdSignature: UInt32 = 0x0605_4b50
  private static let zip64LocatorSignature: UInt32 = 0x0706_4b50
  private static let zip64EOCDSignature: UInt32 = 0x0606_4b50
  private static let centralSignature: UInt32 = 0x0201_4b50
  private static let localSignature: UInt32 = 0x0403_4b50

  /// Parses the directory of the archive in `bytes`.
  init(bytes: [UInt8]) throws(CheckpointError) {
    self.bytes = bytes
    let directory = try Self.locateCentralDirectory(bytes)
    var reader = ByteReader(bytes, range: directory.offset..<(directory.offset + directory.size))
    var entries: [Entry] = []
    var index: [String: Int] = [:]
    for number in 0..<directory.count {
      let entry = try Self.readCentralEntry(&reader, number: number)
      if index[entry.name] == nil { index[entry.name] = entries.count }
      entries.append(entry)
    }
    self.entries = entries
    self.index = index
  }

  /// The entry named `name`, if present.
  func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

  /// The byte range of an entry's data in the archive buffer.
  func dataRange(of entry: Entry) throws(CheckpointError) -> Range<Int> {
    guard entry.flags & 1 == 0 else {
      throw CheckpointError(.unsupportedZip, "zip entry \(entry.name) is encrypted")
    }
    guard entry.method == 0 else {
      throw CheckpointError(
        .unsupportedZip,
        "zip entry \(entry.name) is compressed (method \(entry.method)\(entry.method == 8 ? ", deflate" : "")); "
          + "only STORED (method 0) entries are supported")
    }
    guard entry.compressedSize == entry.uncompressedSize else {
      throw CheckpointError(
        .malformedZip,
        "STORED zip entry \(entry.name) has compressed size \(entry.compressedSize) "
          + "but uncompressed size \(entry.uncompressedSize)")
    }
    let at = entry.localHeaderOffset
    guard ByteReader.value(UInt32.self, in: bytes, at: at) == Self.localSignature,
      let nameLength = ByteReader.value(UInt16.self, in: bytes, at: at + 26),
      let extraLength = ByteReader.value(UInt16.self, in: bytes, at: at + 28)
    else {
      throw CheckpointError(
        .malformedZip, "zip entry \(entry.name): no local file header at offset \(at) (file has \(bytes.count) bytes)")
    }
    let start = at + 30 + Int(nameLength) + Int(extraLength)
    guard start <= bytes.count, entry.compressedSize <= bytes.count - start else {
      throw CheckpointError(
        .truncated,
        "zip entry \(entry.name) needs bytes \(start)..<\(start + entry.compressedSize), "
          + "but the file has \(bytes.count) bytes")
    }
    let range = start..<(start + entry.compressedSize)
    let computed = CRC32.checksum(bytes, range)
    guard computed == entry.crc32 else {
      throw CheckpointError(
        .malformedZip,
        "zip entry \(entry.name) is corrupted: its data has CRC-32 \(CRC32.hex(computed)); "
          + "the directory records \(CRC32.hex(entry.crc32))")
    }
    return range
  }

  // MARK: - Directory parsing

  private struct CentralDirectory {
    let offset: Int
    let size: Int
    let count: Int
  }

  private static func locateCentralDirectory(_ bytes: [UInt8]) throws(CheckpointError) -> CentralDirectory {
    // The EOCD record is 22 bytes plus a comment of at most 65,535 bytes at the end.
    let lowest = max(0, bytes.count - 22 - 65_535)
    var at = bytes.count - 22
    while at >= lowest, ByteReader.value(UInt32.self, in: bytes, at: at) != eocdSignature { at -= 1 }
    guard at >= lowest else {
      throw CheckpointError(
        .truncated, "no zip end-of-central-directory record in the last \(bytes.count - lowest) bytes")
    }
    var reader = ByteReader(bytes, range: (at + 4)..<(at + 22))
    let disk = try reader.read(UInt16.self, "zip EOCD")
    let directoryDisk = try reader.read(UInt16.self, "zip EOCD")
    _ = try reader.read(UInt16.self, "zip EOCD")
    var count = Int(try reader.read(UInt16.self, "zip EOCD"))
    var size = Int(try reader.read(UInt32.self, "zip EOCD"))
    var offset = Int(try reader.read(UInt32.self, "zip EOCD"))
    if at >= 20, ByteReader.value(UInt32.self, in: bytes, at: at - 20) == zip64LocatorSignature {
      var locator = ByteReader(bytes, range: (at - 16)..<at)
      _ = try locator.read(UInt32.self, "zip64 locator")
      let recordOffset = try locator.read(UInt64.self, "zip64 locator")
      guard bytes.count >= 56, recordOffset <= UInt64(bytes.count - 56),
        ByteReader.value(UInt32.self, in: bytes, at: Int(recordOffset)) == zip64EOCDSignature
      else {
        throw CheckpointError(.malformedZip, "zip64 locator points to offset \(recordOffset), where no zip64 EOCD is")
      }
      var record = ByteReader(bytes, range: (Int(recordOffset) + 24)..<(Int(recordOffset) + 56))
      _ = try record.read(UInt64.self, "zip64 EOCD")
      let total = try record.read(UInt64.self, "zip64 EOCD")
      let size64 = try record.read(UInt64.self, "zip64 EOCD")
      let offset64 = try record.read(UInt64.self, "zip64 EOCD")
      let limit = UInt64(bytes.count)
      guard total <= limit, size64 <= limit, offset64 <= limit else {
        throw CheckpointError(
          .malformedZip, "zip64 EOCD claims \(total) entries, \(size64) bytes at \(offset64) in a \(limit)-byte file")
      }
      (count, size, offset) = (Int(total), Int(size64), Int(offset64))
    } else if disk != 0 || directoryDisk != 0 {
      throw CheckpointError(.unsupportedZip, "multi-disk zip archives are not supported")
    }
    guard offset <= bytes.count, size <= bytes.count - offset else {
      throw CheckpointError(
        .truncated, "zip central directory at \(offset) (\(size) bytes) lies beyond the \(bytes.count)-byte file")
    }
    // A central directory entry takes at least 46 bytes, which bounds the entry count.
    guard count <= size / 46 else {
      throw CheckpointError(
        .malformedZip, "zip directory claims \(count) entries but is only \(size) bytes long")
    }
    return CentralDirectory(offset: offset, size: size, count: count)
  }

  private static func readCentralEntry(_ reader: inout ByteReader, number: Int) throws(CheckpointError) -> Entry {
    let what = "zip central directory entry \(number)"
    guard try reader.read(UInt32.self, what) == centralSignature else {
      throw CheckpointError(.malformedZip, "\(what) has a bad signature at byte \(reader.position - 4)")
    }
    try reader.skip(4, what)  // versions
    let flags = try reader.read(UInt16.self, what)
    let method = try reader.read(UInt16.self, what)
    try reader.skip(4, what)  // time, date
    let crc = try reader.read(UInt32.self, what)
    var compressed = UInt64(try reader.read(UInt32.self, what))
    var uncompressed = UInt64(try reader.read(UInt32.self, what))
    let nameLength = Int(try reader.read(UInt16.self, what))
    let extraLength = Int(try reader.read(UInt16.self, what))
    let commentLength = Int(try reader.read(UInt16.self, what))
    try reader.skip(8, what)  // disk start, attributes
    var localOffset = UInt64(try reader.read(UInt32.self, what))
    let name = String(decoding: try reader.readBytes(nameLength, what), as: UTF8.self)
    var extra = ByteReader(reader.bytes, range: reader.position..<(reader.position + extraLength))
    try reader.skip(extraLength + commentLength, what)
    // ZIP64 extended information: present values replace the 0xFFFFFFFF placeholders, in order.
    while extra.remaining >= 4 {
      let id = try extra.read(UInt16.self, what)
      let length = Int(try extra.read(UInt16.self, what))
      var field = ByteReader(extra.bytes, range: extra.position..<(extra.position + length))
      try extra.skip(length, what)
      guard id == 1 else { continue }
      if uncompressed == 0xFFFF_FFFF { uncompressed = try field.read(UInt64.self, "zip64 field of \(name)") }
      if compressed == 0xFFFF_FFFF { compressed = try field.read(UInt64.self, "zip64 field of \(name)") }
      if localOffset == 0xFFFF_FFFF { localOffset = try field.read(UInt64.self, "zip64 field of \(name)") }
    }
    let limit = UInt64(reader.bytes.count)
    // The uncompressed size of a compressed entry may exceed the file; it is only used after
    // `dataRange` has refused compressed entries, so clamp it instead of failing here.
    guard compressed <= limit, localOffset <= limit else {
      throw CheckpointError(
        .malformedZip, "zip entry \(name) claims \(compressed) bytes at offset \(localOffset) in a \(limit)-byte file")
    }
    uncompressed = min(uncompressed, limit + 1)
    return Entry(
      name: name, method: method, flags: flags, crc32: crc, compressedSize: Int(compressed),
      uncompressedSize: Int(uncompressed), localHeaderOffset: Int(localOffset))
  }
}
