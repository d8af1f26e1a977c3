/// A storage as named by a persistent id `('storage', type, key, location, numel[, view])`.
struct StorageRef {
  let dtype: StorageDType
  /// The record name (zip) or storage key (legacy).
  let key: String
  let location: String
  /// Elements the pickle declares the storage to hold.
  let declaredCount: Int
}

/// A tensor as described by `_rebuild_tensor_v2(storage, offset, size, stride, ...)`.
struct TensorRef {
  let storage: StorageRef
  let offset: Int
  let shape: [Int]
  let stride: [Int]
}
