/// Why a calibration table could not be read, used or written, or a model not hashed.
///
/// Every message names the file where there is one and says what to do about it, e.g.
/// `Calibration/ab12…-int8.json: entries[3].scale: expected a finite number above 0, got -0.5`.
public struct CalibrationError: Error, CustomStringConvertible, Sendable {
  /// The category of a problem, for callers (and tests) that branch on it.
  public enum Kind: Sendable, Equatable {
    /// There is no table at the path: calibrate first.
    case missingTable
    /// A file could not be opened, read, written or renamed (the message carries `errno`'s text).
    case fileAccess
    /// The table was measured on a different checkpoint (another sha256).
    case modelMismatch
    /// The table's `format` is not the one this build reads (`ZSMVersion.calibrationFormat`).
    case incompatibleFormat
    /// The table is for another precision than int8.
    case unsupportedPrecision
    /// Not JSON, or a field is missing, mistyped, out of range or duplicated.
    case malformed
  }

  /// The category of the problem.
  public let kind: Kind
  /// What is wrong and, where it helps, what to run.
  public let message: String

  public init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }

  public var description: String { message }
}
