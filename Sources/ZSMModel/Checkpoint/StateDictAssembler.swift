/// Where a container keeps the raw bytes of each storage.
protocol StorageSource {
  /// The byte range of the checkpoint buffer that holds `storage`'s elements; `tensor`
  /// names the tensor that needs it, for error messages.
  func byteRange(of storage: StorageRef, tensor: String) throws(CheckpointError) -> Range<Int>
}

/// Turns an unpickled object into a `StateDict`: checks that it is a flat mapping from names
/// to float32 tensors with contiguous strides, then copies each tensor's elements out of its
/// storage after checking they lie inside it.
enum StateDictAssembler {
  /// A named tensor description, before its data is read.
  struct Entry {
    let name: String
    let tensor: TensorRef
  }

  /// The name → tensor entries of a state_dict pickle, in order.
  static func entries(of root: PickleValue) throws(CheckpointError) -> [Entry] {
    guard case .dict(let dict) = root else {
      throw CheckpointError(
        .notAStateDict, "the pickle holds a \(root.kindName), not a state_dict (an OrderedDict of tensors)")
    }
    var entries: [Entry] = []
    for entry in dict.entries {
      let (key, value) = (entry.key, entry.value)
      guard case .string(let name) = key else {
        throw CheckpointError(.notAStateDict, "state_dict key \(entries.count) is a \(key.kindName), not a str")
      }
      guard case .tensor(let tensor) = value else {
        throw CheckpointError(.notAStateDict, "state_dict entry \(name) is a \(value.kindName), not a tensor")
      }
      guard tensor.storage.dtype == .float32 else {
        throw CheckpointError(
          .unsupportedDType,
          "tensor \(name) has dtype \(tensor.storage.dtype.name) (\(tensor.storage.dtype.storageClass)); "
            + "expected float32")
      }
      try checkContiguous(tensor, name: name)
      entries.append(Entry(name: name, tensor: tensor))
    }
    return entries
  }

  /// Requires C-order strides; dimensions of size 1 may have any stride, as in PyTorch.
  private static func checkContiguous(_ tensor: TensorRef, name: String) throws(CheckpointError) {
    var expected = 1
    var contiguous = true
    for axis in tensor.shape.indices.reversed() {
      let size = tensor.shape[axis]
      if size != 1, tensor.stride[axis] != expected { contiguous = false }
      let (product, overflow) = expected.multipliedReportingOverflow(by: size)
      guard !overflow else {
        throw CheckpointError(.invalidTensor, "tensor \(name) has a shape \(tensor.shape) too large to address")
      }
      expected = product
    }
    guard contiguous else {
      var contiguousStride: [Int] = []
      var step = 1
      for size in tensor.shape.reversed() {
        contiguousStride.insert(step, at: 0)
        step *= size
      }
      throw CheckpointError(
        .invalidTensor,
        "tensor \(name) with shape \(tensor.shape) has strides \(tensor.stride); expected contiguous strides "
          + "\(contiguousStride)")
    }
  }

  /// Reads every entry's elements out of its storage.
  static func materialize(
    _ entries: [Entry], bytes: [UInt8], storages: some StorageSource
  ) throws(CheckpointError) -> StateDict {
    var tensors: [StateDict.Tensor] = []
    tensors.reserveCapacity(entries.count)
    var ranges: [String: Range<Int>] = [:]
    for entry in entries {
      let tensor = entry.tensor
      let storage = tensor.storage
      // Each storage is located (and its checksum verified) once, however many tensors share it.
      let range: Range<Int>
      if let known = ranges[storage.key] {
        range = known
      } else {
        range = try storages.byteRange(of: storage, tensor: entry.name)
        ranges[storage.key] = range
      }
      let available = range.count / 4
      guard available >= storage.declaredCount else {
        throw CheckpointError(
          .invalidTensor,
          "storage \(storage.key) of tensor \(entry.name) holds \(range.count) bytes (\(available) float32); "
            + "the pickle declares \(storage.declaredCount) elements")
      }
      let count = tensor.shape.reduce(1, *)  // checked for overflow by `entries(of:)`
      guard tensor.offset <= storage.declaredCount, count <= storage.declaredCount - tensor.offset else {
        throw CheckpointError(
          .invalidTensor,
          "tensor \(entry.name) with shape \(tensor.shape) needs \(count) elements from offset \(tensor.offset) "
            + "of storage \(storage.key), which holds \(storage.declaredCount)")
      }
      let start = range.lowerBound + 4 * tensor.offset
      let data = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        bytes.withUnsafeBytes { raw in
          for index in 0..<count {
            let bits = raw.loadUnaligned(fromByteOffset: start + 4 * index, as: UInt32.self)
            buffer[index] = Float(bitPattern: UInt32(littleEndian: bits))
          }
        }
        initialized = count
      }
      tensors.append(StateDict.Tensor(name: entry.name, shape: tensor.shape, data: data))
    }
    return StateDict(tensors: tensors)
  }
}
