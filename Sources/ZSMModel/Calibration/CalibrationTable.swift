import Glibc
import ZSMRuntime

/// The int8 calibration of one checkpoint: the activation scale and zero point of every tensor
/// that runs in int8, how they were measured, and the accuracy of the quantised network
/// against fp32 on the calibration clip. Written by `zsm calibrate` as
/// `Calibration/<model-sha256>-int8.json`, read before running in int8.
///
/// The table is tied to the exact checkpoint (its sha256) because scales measured on other
/// weights are silently wrong rather than unusable, and to `ZSMVersion.calibrationFormat`
/// because a change of which tensors are quantised, or how they are named, has the same effect.
public struct CalibrationTable: Equatable, Sendable {
  /// The quantisation of one tensor (`x ≈ (q - zeroPoint) * scale`, q in 0...255) and the
  /// range actually observed, kept so a reader can see how much the chosen range clips.
  public struct Entry: Equatable, Sendable {
    /// The tensor's name, as the network's int8 hooks name it.
    public var tensor: String
    public var scale: Float
    public var zeroPoint: Int32
    /// The smallest and largest values seen during calibration.
    public var min: Float
    public var max: Float

    public init(tensor: String, scale: Float, zeroPoint: Int32, min: Float, max: Float) {
      self.tensor = tensor
      self.scale = scale
      self.zeroPoint = zeroPoint
      self.min = min
      self.max = max
    }

    /// The entry's scale and zero point.
    public var parameters: QuantizationParameters { QuantizationParameters(scale: scale, zeroPoint: zeroPoint) }
  }

  /// The only precision tables exist for so far.
  public static let int8 = "int8"

  /// Lowercase hexadecimal SHA-256 of the checkpoint file.
  public var modelSHA256: String
  /// `ZSMVersion.runtime` of the build that wrote the table (informational).
  public var runtimeVersion: String
  /// `ZSMVersion.calibrationFormat` of the build that wrote the table.
  public var format: Int
  /// "int8".
  public var precision: String
  /// Free text, e.g. "percentile 0.9999 of a log-binned histogram, asymmetric u8".
  public var method: String
  /// The calibration clip, as given on the command line.
  public var clip: String
  /// Input frames of the clip used, and the network windows run over them.
  public var frames: Int
  public var windows: Int
  /// One entry per quantised tensor, in the order the network runs them.
  public var entries: [Entry]
  /// PSNR-Y in dB of the quantised network's output against fp32, per output frame of the
  /// calibration clip; +infinity where a frame came out identical.
  public var psnrY: [Double]

  public init(
    modelSHA256: String, runtimeVersion: String = ZSMVersion.runtime, format: Int = ZSMVersion.calibrationFormat,
    precision: String = CalibrationTable.int8, method: String, clip: String, frames: Int, windows: Int,
    entries: [Entry], psnrY: [Double]
  ) {
    self.modelSHA256 = modelSHA256
    self.runtimeVersion = runtimeVersion
    self.format = format
    self.precision = precision
    self.method = method
    self.clip = clip
    self.frames = frames
    self.windows = windows
    self.entries = entries
    self.psnrY = psnrY
  }

  /// The mean of `psnrY` (mean of per-frame dB, as the quality reports average); NaN without
  /// frames, +infinity when every frame came out identical.
  public var meanPSNRY: Double {
    guard !psnrY.isEmpty else { return .nan }
    return psnrY.reduce(0, +) / Double(psnrY.count)
  }

  /// The entry for `tensor`, or nil.
  public func entry(named tensor: String) -> Entry? {
    entries.first { $0.tensor == tensor }
  }

  /// Where the table for a model lives: `directory/<sha256>-int8.json`.
  public static func defaultPath(directory: String = "Calibration", modelSHA256: String) -> String {
    "\(directory)/\(modelSHA256)-int8.json"
  }
}

// MARK: - Reading

extension CalibrationTable {
  /// Reads the table at `path` and checks it belongs to the model whose checkpoint hashes to
  /// `expectedModelSHA256` and to this build's calibration format.
  public static func load(path: String, expectedModelSHA256: String) throws(CalibrationError) -> CalibrationTable {
    var info = stat()
    if stat(path, &info) != 0, errno == ENOENT {
      throw CalibrationError(
        .missingTable,
        "no calibration table at \(path); make one with: "
          + "zsm calibrate --model MODEL --input CLIP.y4m --precision int8")
    }
    let bytes: [UInt8]
    do throws(FileIOFailure) {
      bytes = try FileIO.readAll(path: path)
    } catch {
      throw CalibrationError(.fileAccess, "\(path): \(error.message)")
    }
    let table: CalibrationTable
    do throws(CalibrationError) {
      table = try parse(String(decoding: bytes, as: UTF8.self))
    } catch {
      throw CalibrationError(error.kind, "\(path): \(error.message)")
    }
    guard table.modelSHA256 == expectedModelSHA256.lowercased() else {
      throw CalibrationError(
        .modelMismatch,
        "\(path) was made for model sha256 \(abbreviated(table.modelSHA256)), this model is "
          + "\(abbreviated(expectedModelSHA256)); run zsm calibrate for this model")
    }
    return table
  }

  /// Parses and validates table JSON. Errors name the field, e.g. `entries[2].zero_point`.
  public static func parse(_ text: String) throws(CalibrationError) -> CalibrationTable {
    let root: JSONValue
    do {
      root = try MiniJSON.parse(Array(text.utf8))
    } catch {
      throw CalibrationError(.malformed, "not valid JSON: \(error.message)")
    }
    var r = try TableFields(root, path: "")
    // The format first: under another format the other fields may mean something else.
    let format = try r.int("format", 0...Int.max)
    guard format == ZSMVersion.calibrationFormat else {
      throw CalibrationError(
        .incompatibleFormat,
        "calibration format \(format), but this build (runtime \(ZSMVersion.runtime)) reads format "
          + "\(ZSMVersion.calibrationFormat); the table must be re-made: "
          + "zsm calibrate --model MODEL --input CLIP.y4m --precision int8")
    }
    let sha = try r.string("model_sha256")
    guard sha.utf8.count == 64, sha.utf8.allSatisfy({ isLowercaseHexDigit($0) }) else {
      throw r.error("model_sha256", "expected 64 lowercase hex digits, got '\(sha)'")
    }
    let precision = try r.string("precision")
    guard precision == int8 else {
      throw CalibrationError(
        .unsupportedPrecision, "precision is '\(precision)'; this build reads only '\(int8)' tables")
    }
    let runtimeVersion = try r.string("runtime_version")
    let method = try r.string("method")
    let clip = try r.string("clip")
    let frames = try r.int("frames", 0...Int.max)
    let windows = try r.int("windows", 0...Int.max)
    var psnrY: [Double] = []
    for (i, item) in try r.array("psnr_y").enumerated() {
      guard let value = psnrValue(item) else {
        throw r.error("psnr_y[\(i)]", "expected a number or \"inf\"")
      }
      psnrY.append(value)
    }
    if let mean = r.optional("mean_psnr_y"), psnrValue(mean) == nil {
      throw r.error("mean_psnr_y", "expected a number, \"inf\" or null")
    }
    var entries: [Entry] = []
    var seen: [String: Int] = [:]
    for (i, item) in try r.array("entries").enumerated() {
      var e = try TableFields(item, path: "entries[\(i)]")
      let tensor = try e.string("tensor")
      guard !tensor.isEmpty else { throw e.error("tensor", "expected a tensor name, got an empty string") }
      if let first = seen[tensor] {
        throw e.error("tensor", "'\(tensor)' appears twice (also entries[\(first)])")
      }
      seen[tensor] = i
      let scale = try e.float("scale")
      guard scale > 0 else { throw e.error("scale", "expected a finite number above 0, got \(scale)") }
      let zeroPoint = try e.int("zero_point", 0...255)
      let low = try e.float("min")
      let high = try e.float("max")
      guard low <= high else { throw e.error("min", "min \(low) is above max \(high)") }
      try e.finish()
      entries.append(Entry(tensor: tensor, scale: scale, zeroPoint: Int32(zeroPoint), min: low, max: high))
    }
    try r.finish()
    return CalibrationTable(
      modelSHA256: sha, runtimeVersion: runtimeVersion, format: format, precision: precision, method: method,
      clip: clip, frames: frames, windows: windows, entries: entries, psnrY: psnrY)
  }

  /// A PSNR: a number, or "inf" for an identical frame.
  private static func psnrValue(_ value: JSONValue) -> Double? {
    switch value {
    case .integer(let i): return Double(i)
    case .number(let d): return d
    case .string("inf"): return .infinity
    default: return nil
    }
  }

  private static func isLowercaseHexDigit(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66)
  }

  /// The first 16 hex digits and an ellipsis: enough to tell two models apart in a message.
  private static func abbreviated(_ sha: String) -> String {
    sha.count > 16 ? String(sha.prefix(16)) + "…" : sha
  }
}

/// The calibration tables' object reader (see `JSONFields`).
typealias TableFields = JSONFields<CalibrationError>

extension JSONFields where Failure == CalibrationError {
  init(_ value: JSONValue, path: String) throws(CalibrationError) {
    try self.init(
      value, path: path,
      unknownFieldHint: "this build reads calibration format \(ZSMVersion.calibrationFormat)",
      makeError: { CalibrationError(.malformed, $0) })
  }
}

// MARK: - Writing

extension CalibrationTable {
  /// The table as JSON: fixed key order, one entry per line. Floats are written as Swift's
  /// shortest representation, which reads back as the same Float; +infinity PSNRs as "inf";
  /// non-finite scales or ranges (an invalid table) as null, which `parse` refuses.
  public func json() -> String {
    let q = MiniJSON.quoted
    func f(_ v: Float) -> String { v.isFinite ? "\(v)" : "null" }
    func psnr(_ v: Double) -> String {
      if v == .infinity { return "\"inf\"" }
      return v.isFinite ? "\(v)" : "null"
    }
    var lines: [String] = ["{"]
    lines.append("  \"format\": \(format),")
    lines.append("  \"runtime_version\": \(q(runtimeVersion)),")
    lines.append("  \"model_sha256\": \(q(modelSHA256)),")
    lines.append("  \"precision\": \(q(precision)),")
    lines.append("  \"method\": \(q(method)),")
    lines.append("  \"clip\": \(q(clip)),")
    lines.append("  \"frames\": \(frames),")
    lines.append("  \"windows\": \(windows),")
    lines.append("  \"mean_psnr_y\": \(psnr(meanPSNRY)),")
    lines.append("  \"psnr_y\": [" + psnrY.map(psnr).joined(separator: ", ") + "],")
    if entries.isEmpty {
      lines.append("  \"entries\": []")
    } else {
      lines.append("  \"entries\": [")
      lines.append(
        entries.map {
          "    {\"tensor\": \(q($0.tensor)), \"scale\": \(f($0.scale)), \"zero_point\": \($0.zeroPoint), "
            + "\"min\": \(f($0.min)), \"max\": \(f($0.max))}"
        }.joined(separator: ",\n"))
      lines.append("  ]")
    }
    lines.append("}")
    return lines.joined(separator: "\n") + "\n"
  }

  /// Writes `json()` to `path`, creating its directory if missing, atomically: through
  /// `path.tmp` and a rename, so a reader never sees half a table and a failed write (full
  /// disk, read-only directory) leaves any previous table in place.
  public func write(to path: String) throws(CalibrationError) {
    if let slash = path.lastIndex(of: "/") {
      let directory = String(path[..<slash])
      do throws(FileIOFailure) {
        try FileIO.createDirectories(directory)
      } catch {
        throw CalibrationError(.fileAccess, "cannot write the calibration table \(path): \(error.message)")
      }
    }
    do throws(FileIOFailure) {
      try FileIO.replaceAtomically(path: path, with: Array(json().utf8))
    } catch {
      throw CalibrationError(.fileAccess, "cannot write the calibration table \(path): \(error.message)")
    }
  }
}
