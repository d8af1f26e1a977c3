/// The byte ranges of a legacy checkpoint's storages, by key.
struct LegacyStorageTable: StorageSource {
  let ranges: [String: Range<Int>]

  func byteRange(of storage: StorageRef, tensor: String) throws(CheckpointError) -> Range<Int> {
    guard let range = ranges[storage.key] else {
      throw CheckpointError(
        .missingRecord, "legacy storage \(storage.key) of tensor \(tensor) is not in the storage-key list")
    }
    return range
  }
}
