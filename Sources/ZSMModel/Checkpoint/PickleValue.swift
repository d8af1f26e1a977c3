/// A value built by `SafeUnpickler`: plain data, or one of the few PyTorch objects the
/// allow-list lets a pickle construct. Nothing here can run code.
///
/// Containers are values: a memoized list or dict is a snapshot taken when it was memoized,
/// so mutations after the memo write are not seen through later memo reads. A state_dict
/// never relies on that (its shared objects are strings, globals and storage ids).
indirect enum PickleValue {
  case none
  case bool(Bool)
  case int(Int)
  /// An integer too wide for `Int` (from LONG1), as little-endian two's complement bytes.
  case bigInt([UInt8])
  case float(Double)
  case string(String)
  case bytes([UInt8])
  case tuple(PickleSequence)
  case list(PickleSequence)
  case dict(PickleDict)
  /// An allow-listed global (class or function), not yet called.
  case global(AllowedGlobal)
  /// A storage reference produced by BINPERSID.
  case storage(StorageRef)
  /// A tensor produced by `torch._utils._rebuild_tensor_v2` or `_rebuild_parameter`.
  case tensor(TensorRef)

  /// Nesting depth: 0 for scalars, 1 + the deepest child for containers.
  var depth: Int {
    switch self {
    case .tuple(let sequence), .list(let sequence): return sequence.depth
    case .dict(let dict): return dict.depth
    default: return 0
    }
  }

  /// A short description of the kind of value, for error messages.
  var kindName: String {
    switch self {
    case .none: return "None"
    case .bool: return "bool"
    case .int, .bigInt: return "int"
    case .float: return "float"
    case .string: return "str"
    case .bytes: return "bytes"
    case .tuple(let sequence): return "tuple of \(sequence.items.count)"
    case .list(let sequence): return "list of \(sequence.items.count)"
    case .dict(let dict): return dict.isOrdered ? "OrderedDict" : "dict"
    case .global(let global): return "global \(global.qualifiedName)"
    case .storage: return "storage"
    case .tensor: return "tensor"
    }
  }
}

/// The items of a tuple or list, with their cached nesting depth.
struct PickleSequence {
  private(set) var items: [PickleValue] = []
  private(set) var depth = 1

  init(_ items: [PickleValue] = []) {
    for item in items { append(item) }
  }

  mutating func append(_ item: PickleValue) {
    items.append(item)
    depth = max(depth, item.depth + 1)
  }
}

/// The entries of a dict or OrderedDict in insertion order. Setting an existing string key
/// replaces its value in place, as Python does.
struct PickleDict {
  /// One key/value pair (a struct, not a tuple, to keep the recursive type simple).
  struct Entry {
    let key: PickleValue
    var value: PickleValue
  }

  private(set) var entries: [Entry] = []
  private var stringKeys: [String: Int] = [:]
  private(set) var depth = 1
  /// Whether this is a `collections.OrderedDict` rather than a plain dict.
  let isOrdered: Bool

  init(ordered: Bool) { isOrdered = ordered }

  mutating func set(_ key: PickleValue, _ value: PickleValue) {
    depth = max(depth, key.depth + 1, value.depth + 1)
    if case .string(let name) = key {
      if let at = stringKeys[name] {
        entries[at].value = value
        return
      }
      stringKeys[name] = entries.count
    }
    entries.append(Entry(key: key, value: value))
  }

  /// The value for a string key.
  subscript(name: String) -> PickleValue? { stringKeys[name].map { entries[$0].value } }
}
