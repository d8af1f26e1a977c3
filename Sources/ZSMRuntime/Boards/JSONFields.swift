/// Reads the members of one JSON object for the files this project validates by hand (board
/// files, calibration tables): each accessor marks its key as used and names the field in its
/// error, and `finish` refuses members nobody asked for. `Failure` is the caller's error type;
/// `makeError` turns "field: what is wrong" into it (adding the file's name, a kind, ...).
public struct JSONFields<Failure: Error> {
  public let members: [String: JSONValue]
  public let path: String
  private let makeError: (String) -> Failure
  private let unknownFieldHint: String
  private var used: Set<String> = []

  /// `path` names this object in messages ("" for the document, "cores[2]", ...);
  /// `unknownFieldHint` follows "unknown field" (where the schema is written down).
  public init(
    _ value: JSONValue, path: String, unknownFieldHint: String, makeError: @escaping (String) -> Failure
  ) throws(Failure) {
    guard case .object(let m) = value else {
      throw makeError("\(path.isEmpty ? "the document" : path): expected an object")
    }
    members = m
    self.path = path
    self.unknownFieldHint = unknownFieldHint
    self.makeError = makeError
  }

  /// An error about member `key` of this object.
  public func error(_ key: String, _ what: String) -> Failure {
    makeError("\(path.isEmpty ? key : path + "." + key): \(what)")
  }

  public mutating func value(_ key: String) throws(Failure) -> JSONValue {
    used.insert(key)
    guard let v = members[key] else { throw error(key, "missing") }
    return v
  }

  /// The member, or nil where it is absent or null.
  public mutating func optional(_ key: String) -> JSONValue? {
    used.insert(key)
    if case .null = members[key] ?? .null { return nil }
    return members[key]
  }

  public mutating func string(_ key: String) throws(Failure) -> String {
    guard case .string(let s) = try value(key) else { throw error(key, "expected a string") }
    return s
  }

  public mutating func optionalString(_ key: String) throws(Failure) -> String? {
    guard let v = optional(key) else { return nil }
    guard case .string(let s) = v, !s.isEmpty else { throw error(key, "expected a non-empty string or null") }
    return s
  }

  public mutating func bool(_ key: String) throws(Failure) -> Bool {
    guard case .bool(let b) = try value(key) else { throw error(key, "expected true or false") }
    return b
  }

  public mutating func optionalBool(_ key: String) throws(Failure) -> Bool? {
    guard let v = optional(key) else { return nil }
    guard case .bool(let b) = v else { throw error(key, "expected true, false or null") }
    return b
  }

  public mutating func int(_ key: String, _ range: ClosedRange<Int>) throws(Failure) -> Int {
    guard case .integer(let i) = try value(key), range.contains(i) else {
      throw error(key, "expected an integer \(Self.describe(range))")
    }
    return i
  }

  public mutating func optionalInt(_ key: String, _ range: ClosedRange<Int>) throws(Failure) -> Int? {
    guard let v = optional(key) else { return nil }
    guard case .integer(let i) = v, range.contains(i) else {
      throw error(key, "expected null or an integer \(Self.describe(range))")
    }
    return i
  }

  public mutating func optionalNumber(_ key: String) throws(Failure) -> Double? {
    switch optional(key) {
    case nil: return nil
    case .integer(let i): return Double(i)
    case .number(let d) where d.isFinite: return d
    default: throw error(key, "expected a number or null")
    }
  }

  /// A finite Float (Swift's shortest printing of a Float reads back as the same Float).
  public mutating func float(_ key: String) throws(Failure) -> Float {
    let number: Double
    switch try value(key) {
    case .integer(let i): number = Double(i)
    case .number(let d): number = d
    default: throw error(key, "expected a finite number")
    }
    let value = Float(number)
    guard value.isFinite else { throw error(key, "expected a finite number, got \(number) (outside Float's range)") }
    return value
  }

  public mutating func array(_ key: String) throws(Failure) -> [JSONValue] {
    guard case .array(let a) = try value(key) else { throw error(key, "expected an array") }
    return a
  }

  public mutating func intArray(_ key: String, _ range: ClosedRange<Int>) throws(Failure) -> [Int] {
    var out: [Int] = []
    for v in try array(key) {
      guard case .integer(let i) = v, range.contains(i) else {
        throw error(key, "expected integers \(Self.describe(range))")
      }
      out.append(i)
    }
    return out
  }

  public mutating func stringArray(_ key: String) throws(Failure) -> [String] {
    var out: [String] = []
    for v in try array(key) {
      guard case .string(let s) = v else { throw error(key, "expected strings") }
      out.append(s)
    }
    return out
  }

  /// Refuses members that no accessor asked for.
  public func finish() throws(Failure) {
    if let extra = members.keys.sorted().first(where: { !used.contains($0) }) {
      throw error(extra, "unknown field (\(unknownFieldHint))")
    }
  }

  static func describe(_ range: ClosedRange<Int>) -> String {
    range.upperBound == Int.max ? "\(range.lowerBound) or more" : "from \(range.lowerBound) to \(range.upperBound)"
  }
}
