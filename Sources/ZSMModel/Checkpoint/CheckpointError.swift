/// Why a checkpoint could not be loaded or does not match the network.
///
/// Every message says what was expected and what was found; `description` prefixes the
/// file the problem was found in, e.g.
/// `model.pth: tensor conv_first.weight has dtype float16; expected float32`.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
  /// The category of a problem, for callers (and tests) that branch on it.
  public enum Kind: Sendable, Equatable {
    /// The file could not be opened, measured or read (the message carries `errno`'s text).
    case fileAccess
    /// The input ended before a structure it announced was complete.
    case truncated
    /// Neither a zip container (`PK\x03\x04`) nor a legacy pickle container (`0x80`).
    case unrecognizedContainer
    /// The zip structure is inconsistent (bad signatures, offsets outside the file).
    case malformedZip
    /// A valid zip feature this reader does not implement (compression, encryption).
    case unsupportedZip
    /// A record the container needs (`data.pkl`, a storage) is absent.
    case missingRecord
    /// The pickle stream is inconsistent (stack underflow, wrong operand types).
    case malformedPickle
    /// The pickle uses an opcode outside the allow-list.
    case refusedOpcode
    /// The pickle names a global outside the allow-list.
    case refusedGlobal
    /// A resource cap (memo entries, stack depth, nesting depth) was exceeded.
    case limitExceeded
    /// A tensor is not float32.
    case unsupportedDType
    /// A tensor's shape, strides, offset or storage are unusable.
    case invalidTensor
    /// The unpickled object is not a flat mapping from names to tensors.
    case notAStateDict
    /// The network configuration cannot be read off the tensor names and shapes.
    case configurationInference
    /// Strict verification found missing, unexpected or mis-shaped tensors.
    case verification(StrictVerificationReport)
  }

  /// The category of the problem.
  public let kind: Kind
  /// The file the problem was found in; empty where no file is involved.
  public private(set) var file: String
  /// What is wrong, saying what was expected and what was found.
  public let message: String

  /// Creates an error; `file` is usually filled in by the loader.
  public init(_ kind: Kind, _ message: String, file: String = "") {
    self.kind = kind
    self.message = message
    self.file = file
  }

  public var description: String { file.isEmpty ? message : "\(file): \(message)" }

  /// The same error, attributed to `path` unless it already names a file.
  func attributed(to path: String) -> CheckpointError {
    var copy = self
    if copy.file.isEmpty { copy.file = path }
    return copy
  }
}
