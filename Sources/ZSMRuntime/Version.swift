/// Version numbers that files written by one build and read by another must agree on.
public enum ZSMVersion {
  /// The runtime's version, recorded in what it writes (e.g. calibration tables) so a file
  /// says which build made it. Informational: compatibility is decided by the format numbers
  /// below, not by this string.
  public static let runtime = "0.7.0"

  /// The version of the calibration table's meaning (`Calibration/<sha256>-int8.json`).
  ///
  /// It changes whenever a table written before would be wrong, not merely unreadable, for
  /// this build: when the set of tensors that run in int8 changes, when they are named
  /// differently, or when a scale or zero point is interpreted differently. A table whose
  /// `format` differs is refused and must be re-made with `zsm calibrate`, because applying
  /// it would silently quantise with the wrong ranges.
  public static let calibrationFormat = 1
}
