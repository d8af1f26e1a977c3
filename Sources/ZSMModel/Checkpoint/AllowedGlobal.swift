/// The globals a checkpoint pickle may name. Anything else is refused by the unpickler.
enum AllowedGlobal {
  case orderedDict
  case rebuildTensorV2
  case rebuildParameter
  case storageType(StorageDType)

  /// The Python name, `module.name`.
  var qualifiedName: String {
    switch self {
    case .orderedDict: return "collections.OrderedDict"
    case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
    case .rebuildParameter: return "torch._utils._rebuild_parameter"
    case .storageType(let dtype): return dtype.storageClass
    }
  }

  /// Resolves `module` and `name` against the allow-list.
  init?(module: String, name: String) {
    switch (module, name) {
    case ("collections", "OrderedDict"): self = .orderedDict
    case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
    case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
    case ("torch", "UntypedStorage"), ("torch.storage", "UntypedStorage"):
      self = .storageType(StorageDType.untyped(storageClass: "\(module).\(name)"))
    default:
      guard module == "torch", let dtype = StorageDType.typed(storageName: name) else { return nil }
      self = .storageType(dtype)
    }
  }
}
