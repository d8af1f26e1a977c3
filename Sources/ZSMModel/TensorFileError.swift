/// Why a `.bin` tensor file could not be read or written; the message says what was
/// expected and what was found, and `description` prefixes the file.
public struct TensorFileError: Error, CustomStringConvertible, Sendable {
  /// The category of a problem.
  public enum Kind: Sendable, Equatable {
    /// The file could not be opened, read or written.
    case fileAccess
    /// The file ends before the header or the data it announces.
    case truncated
    /// The file does not start with `ZSMRAW01`.
    case badMagic
    /// The JSON header is unparsable or lacks a required key.
    case malformedHeader
    /// The dtype is not float32 or the data is not little-endian.
    case unsupportedDType
    /// The shape and the element count disagree.
    case shapeMismatch
  }

  /// The category of the problem.
  public let kind: Kind
  /// The file the problem was found in; empty for in-memory data.
  public private(set) var file: String
  /// What is wrong.
  public let message: String

  public init(_ kind: Kind, _ message: String, file: String = "") {
    self.kind = kind
    self.message = message
    self.file = file
  }

  public var description: String { file.isEmpty ? message : "\(file): \(message)" }

  /// The same error, attributed to `path` unless it already names a file.
  func attributed(to path: String) -> TensorFileError {
    var copy = self
    if copy.file.isEmpty { copy.file = path }
    return copy
  }
}
