/// The element type of a PyTorch storage, known from its storage class.
struct StorageDType: Equatable, Sendable {
  /// The dtype's PyTorch name, e.g. `float16`.
  let name: String
  /// Bytes per element.
  let elementSize: Int
  /// The storage class, e.g. `torch.HalfStorage`.
  let storageClass: String

  static let float32 = StorageDType(name: "float32", elementSize: 4, storageClass: "torch.FloatStorage")

  private static let table: [String: (String, Int)] = [
    "FloatStorage": ("float32", 4), "DoubleStorage": ("float64", 8), "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2), "LongStorage": ("int64", 8), "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2), "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1), "ComplexFloatStorage": ("complex64", 8),
    "ComplexDoubleStorage": ("complex128", 16), "QInt8Storage": ("qint8", 1),
    "QUInt8Storage": ("quint8", 1), "QInt32Storage": ("qint32", 4), "QUInt4x2Storage": ("quint4x2", 1),
    "QUInt2x4Storage": ("quint2x4", 1),
  ]

  /// The dtype of `torch.<storageName>`, if it is a known typed storage class.
  static func typed(storageName: String) -> StorageDType? {
    guard let (name, size) = table[storageName] else { return nil }
    return StorageDType(name: name, elementSize: size, storageClass: "torch.\(storageName)")
  }

  /// An untyped (byte) storage.
  static func untyped(storageClass: String) -> StorageDType {
    StorageDType(name: "uint8 (untyped storage)", elementSize: 1, storageClass: storageClass)
  }
}
