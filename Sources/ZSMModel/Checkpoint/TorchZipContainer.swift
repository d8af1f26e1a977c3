/// The zip container `torch.save` writes since PyTorch 1.6.
///
/// The archive has one top-level folder of any name (the prefix) holding `data.pkl` (the
/// pickled object, whose storages are persistent ids) and `data/<key>` (each storage's raw
/// little-endian bytes), plus small records such as `byteorder` and `version`.
struct TorchZipContainer: StorageSource {
  private let archive: ZipArchive
  /// The archive folder, including its trailing `/`.
  let prefix: String
  /// The unpickled `data.pkl`.
  let root: PickleValue

  init(bytes: [UInt8]) throws(CheckpointError) {
    archive = try ZipArchive(bytes: bytes)
    let candidates = archive.entries.filter { entry in
      entry.name.hasSuffix("/data.pkl") && entry.name.utf8.filter { $0 == UInt8(ascii: "/") }.count == 1
    }
    guard let pickle = candidates.first else {
      let names = archive.entries.prefix(5).map(\.name).joined(separator: ", ")
      throw CheckpointError(
        .missingRecord,
        "the zip archive has no <folder>/data.pkl record, so it is not a PyTorch checkpoint "
          + "(\(archive.entries.count) entries: \(names)\(archive.entries.count > 5 ? ", ..." : ""))")
    }
    guard candidates.count == 1 else {
      throw CheckpointError(
        .malformedZip,
        "the zip archive has \(candidates.count) data.pkl records: "
          + candidates.map(\.name).joined(separator: ", "))
    }
    prefix = String(pickle.name.dropLast("data.pkl".count))
    if let order = archive.entry(named: prefix + "byteorder") {
      let range = try archive.dataRange(of: order)
      let text = String(decoding: bytes[range], as: UTF8.self)
      guard text == "little" else {
        throw CheckpointError(
          .invalidTensor, "the checkpoint's byteorder record says \"\(text)\"; only \"little\" is supported")
      }
    }
    root = try SafeUnpickler.load(bytes, range: try archive.dataRange(of: pickle)).value
  }

  func byteRange(of storage: StorageRef, tensor: String) throws(CheckpointError) -> Range<Int> {
    let name = prefix + "data/" + storage.key
    guard let entry = archive.entry(named: name) else {
      throw CheckpointError(
        .missingRecord, "the zip archive has no record \(name), which holds storage \(storage.key) of tensor \(tensor)")
    }
    return try archive.dataRange(of: entry)
  }
}
