/// The PyTorch objects a checkpoint pickle may construct: what REDUCE, BUILD and BINPERSID
/// do for each allow-listed global. Every operand is type-checked; nothing is executed.
enum TorchObjects {
  /// REDUCE: calls an allow-listed global with a tuple of arguments.
  static func call(_ callable: PickleValue, _ arguments: PickleValue, at: Int) throws(CheckpointError) -> PickleValue {
    guard case .global(let global) = callable else {
      throw CheckpointError(.malformedPickle, "REDUCE at byte \(at) calls a \(callable.kindName), not a global")
    }
    guard case .tuple(let tuple) = arguments else {
      throw CheckpointError(
        .malformedPickle, "REDUCE at byte \(at) passes a \(arguments.kindName) to \(global.qualifiedName), not a tuple")
    }
    let items = tuple.items
    switch global {
    case .orderedDict:
      guard items.isEmpty else {
        throw CheckpointError(
          .malformedPickle,
          "collections.OrderedDict called with \(items.count) arguments at byte \(at); only OrderedDict() is supported")
      }
      return .dict(PickleDict(ordered: true))
    case .rebuildTensorV2:
      return .tensor(try rebuildTensor(items, at: at))
    case .rebuildParameter:
      guard items.count == 3 || items.count == 4, case .tensor(let tensor) = items[0] else {
        throw CheckpointError(
          .malformedPickle,
          "torch._utils._rebuild_parameter at byte \(at) expects (tensor, requires_grad, hooks); "
            + "found \(items.count) arguments starting with \(items.first?.kindName ?? "nothing")")
      }
      return .tensor(tensor)
    case .storageType(let dtype):
      throw CheckpointError(
        .refusedGlobal,
        "refusing to call \(dtype.storageClass) at byte \(at); storage classes may only name a storage type")
    }
  }

  /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
  private static func rebuildTensor(_ items: [PickleValue], at: Int) throws(CheckpointError) -> TensorRef {
    let signature = "torch._utils._rebuild_tensor_v2 at byte \(at)"
    guard items.count == 6 || items.count == 7 else {
      throw CheckpointError(.malformedPickle, "\(signature) expects 6 or 7 arguments; found \(items.count)")
    }
    guard case .storage(let storage) = items[0] else {
      throw CheckpointError(
        .malformedPickle, "\(signature) expects a storage as argument 1; found \(items[0].kindName)")
    }
    guard case .int(let offset) = items[1], offset >= 0 else {
      throw CheckpointError(
        .invalidTensor, "\(signature) expects a non-negative storage offset; found \(items[1].kindName)")
    }
    let shape = try integers(items[2], "size", signature)
    let stride = try integers(items[3], "stride", signature)
    guard shape.count == stride.count else {
      throw CheckpointError(
        .invalidTensor, "\(signature) has a \(shape.count)-d size \(shape) but a \(stride.count)-d stride \(stride)")
    }
    guard shape.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }) else {
      throw CheckpointError(.invalidTensor, "\(signature) has a negative size \(shape) or stride \(stride)")
    }
    return TensorRef(storage: storage, offset: offset, shape: shape, stride: stride)
  }

  private static func integers(_ value: PickleValue, _ what: String, _ signature: String) throws(CheckpointError)
    -> [Int]
  {
    guard case .tuple(let tuple) = value else {
      throw CheckpointError(.malformedPickle, "\(signature) expects a tuple as \(what); found \(value.kindName)")
    }
    var result: [Int] = []
    for item in tuple.items {
      guard case .int(let number) = item else {
        throw CheckpointError(.malformedPickle, "\(signature) expects integers in \(what); found \(item.kindName)")
      }
      result.append(number)
    }
    return result
  }

  /// BUILD: only `OrderedDict` state (the `_metadata` attribute of a state_dict) is accepted,
  /// and ignored.
  static func build(_ target: PickleValue, state: PickleValue, at: Int) throws(CheckpointError) -> PickleValue {
    guard case .dict(let dict) = target, dict.isOrdered else {
      throw CheckpointError(
        .malformedPickle, "BUILD at byte \(at) on a \(target.kindName) is not supported (only on an OrderedDict)")
    }
    switch state {
    case .dict, .none: return target
    default:
      throw CheckpointError(
        .malformedPickle, "BUILD at byte \(at) sets OrderedDict state from a \(state.kindName); expected a dict")
    }
  }

  /// BINPERSID: `('storage', storage_type, key, location, numel[, view_metadata])`.
  static func persistentLoad(_ id: PickleValue, at: Int) throws(CheckpointError) -> PickleValue {
    let what = "persistent id at byte \(at)"
    guard case .tuple(let tuple) = id, tuple.items.count == 5 || tuple.items.count == 6,
      case .string("storage") = tuple.items[0]
    else {
      throw CheckpointError(
        .malformedPickle, "\(what) is a \(id.kindName); expected ('storage', type, key, location, numel)")
    }
    let items = tuple.items
    guard case .global(.storageType(let dtype)) = items[1] else {
      throw CheckpointError(.malformedPickle, "\(what) names a \(items[1].kindName) as storage type")
    }
    guard case .string(let key) = items[2], case .string(let location) = items[3], case .int(let count) = items[4],
      count >= 0
    else {
      throw CheckpointError(
        .malformedPickle,
        "\(what) expects (str key, str location, int numel); found (\(items[2].kindName), "
          + "\(items[3].kindName), \(items[4].kindName))")
    }
    if items.count == 6 {
      guard case .none = items[5] else {
        throw CheckpointError(
          .invalidTensor, "\(what): storage \(key) is a view of another storage, which is not supported")
      }
    }
    return .storage(StorageRef(dtype: dtype, key: key, location: location, declaredCount: count))
  }
}
