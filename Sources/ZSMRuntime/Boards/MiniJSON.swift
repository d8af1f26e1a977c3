/// A JSON value, as far as the `.bin` tensor header and the board files need: objects, arrays,
/// strings, numbers, booleans and null. (Shared by ZSMModel and ZSMRuntime's board profiles.)
public enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  /// A number written without fraction or exponent that fits in `Int`.
  case integer(Int)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])
}

/// Why JSON text could not be parsed: what was expected, and at which byte.
public struct JSONParseError: Error {
  public let message: String
  public init(message: String) { self.message = message }
}

/// A small dependency-free recursive-descent JSON parser (RFC 8259) for short headers.
/// Nesting is capped at `maximumDepth` so hostile input cannot exhaust the stack.
public struct MiniJSON {
  /// `s` as a JSON string literal (quotes, backslashes and control characters escaped), for the
  /// files this project writes by hand in a fixed key order (board files, calibration tables).
  public static func quoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      default:
        if u.value < 0x20 {
          let hex = String(u.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    return out + "\""
  }

  private let bytes: [UInt8]
  private var position = 0
  private let maximumDepth = 32

  /// Parses `bytes` as one JSON value surrounded by optional whitespace.
  public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
    var parser = MiniJSON(bytes: bytes)
    let value = try parser.value(depth: 0)
    parser.skipWhitespace()
    guard parser.position == bytes.count else { throw parser.failure("end of input") }
    return value
  }

  private init(bytes: [UInt8]) { self.bytes = bytes }

  private func failure(_ expected: String) -> JSONParseError {
    let found = position < bytes.count ? "'\(Character(Unicode.Scalar(bytes[position])))'" : "end of input"
    return JSONParseError(message: "expected \(expected) at byte \(position), found \(found)")
  }

  private mutating func skipWhitespace() {
    while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
  }

  private mutating func consume(_ byte: UInt8) -> Bool {
    guard position < bytes.count, bytes[position] == byte else { return false }
    position += 1
    return true
  }

  private mutating func literal(_ text: String, _ value: JSONValue) throws(JSONParseError) -> JSONValue {
    for byte in text.utf8 {
      guard consume(byte) else { throw failure("'\(text)'") }
    }
    return value
  }

  private mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
    guard depth < maximumDepth else { throw JSONParseError(message: "JSON nested deeper than \(maximumDepth) levels") }
    skipWhitespace()
    guard position < bytes.count else { throw failure("a value") }
    switch bytes[position] {
    case UInt8(ascii: "{"): return try object(depth: depth)
    case UInt8(ascii: "["): return try array(depth: depth)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): return try literal("true", .bool(true))
    case UInt8(ascii: "f"): return try literal("false", .bool(false))
    case UInt8(ascii: "n"): return try literal("null", .null)
    default: return try number()
    }
  }

  private mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
    position += 1  // {
    var members: [String: JSONValue] = [:]
    skipWhitespace()
    if consume(UInt8(ascii: "}")) { return .object(members) }
    repeat {
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("a member name") }
      let key = try string()
      skipWhitespace()
      guard consume(UInt8(ascii: ":")) else { throw failure("':'") }
      guard members[key] == nil else { throw JSONParseError(message: "duplicate key \"\(key)\"") }
      members[key] = try value(depth: depth + 1)
      skipWhitespace()
    } while consume(UInt8(ascii: ","))
    guard consume(UInt8(ascii: "}")) else { throw failure("',' or '}'") }
    return .object(members)
  }

  private mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
    position += 1  // [
    var items: [JSONValue] = []
    skipWhitespace()
    if consume(UInt8(ascii: "]")) { return .array(items) }
    repeat {
      items.append(try value(depth: depth + 1))
      skipWhitespace()
    } while consume(UInt8(ascii: ","))
    guard consume(UInt8(ascii: "]")) else { throw failure("',' or ']'") }
    return .array(items)
  }

  private mutating func string() throws(JSONParseError) -> String {
    position += 1  // opening quote
    var scalars = String.UnicodeScalarView()
    var run: [UInt8] = []  // raw UTF-8 bytes since the last escape
    func flush() throws(JSONParseError) {
      let text = String(decoding: run, as: UTF8.self)
      guard text.utf8.elementsEqual(run) else { throw JSONParseError(message: "JSON string is not valid UTF-8") }
      scalars.append(contentsOf: text.unicodeScalars)
      run.removeAll()
    }
    while position < bytes.count {
      let byte = bytes[position]
      position += 1
      switch byte {
      case UInt8(ascii: "\""):
        try flush()
        return String(scalars)
      case UInt8(ascii: "\\"):
        try flush()
        scalars.append(try escape())
      case 0..<0x20:
        position -= 1
        throw failure("no control characters inside a string")
      default:
        run.append(byte)
      }
    }
    throw failure("'\"' closing the string")
  }

  private mutating func escape() throws(JSONParseError) -> Unicode.Scalar {
    guard position < bytes.count else { throw failure("an escape") }
    let byte = bytes[position]
    position += 1
    switch byte {
    case UInt8(ascii: "\""): return "\""
    case UInt8(ascii: "\\"): return "\\"
    case UInt8(ascii: "/"): return "/"
    case UInt8(ascii: "b"): return "\u{08}"
    case UInt8(ascii: "f"): return "\u{0C}"
    case UInt8(ascii: "n"): return "\n"
    case UInt8(ascii: "r"): return "\r"
    case UInt8(ascii: "t"): return "\t"
    case UInt8(ascii: "u"):
      var code = try hex4()
      if (0xD800..<0xDC00).contains(code) {  // a surrogate pair
        guard consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")) else { throw failure("a low surrogate") }
        let low = try hex4()
        guard (0xDC00..<0xE000).contains(low) else { throw failure("a low surrogate") }
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
      }
      guard let scalar = Unicode.Scalar(code) else { throw failure("a valid \\u escape") }
      return scalar
    default:
      position -= 1
      throw failure("a valid escape")
    }
  }

  private mutating func hex4() throws(JSONParseError) -> UInt32 {
    var code: UInt32 = 0
    for _ in 0..<4 {
      guard position < bytes.count, let digit = UInt32(String(Unicode.Scalar(bytes[position])), radix: 16) else {
        throw failure("4 hex digits")
      }
      code = code << 4 | digit
      position += 1
    }
    return code
  }

  private mutating func number() throws(JSONParseError) -> JSONValue {
    let start = position
    var isInteger = true
    _ = consume(UInt8(ascii: "-"))
    guard digits() > 0 else { throw failure("a value") }
    if consume(UInt8(ascii: ".")) {
      isInteger = false
      guard digits() > 0 else { throw failure("digits after '.'") }
    }
    if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
      isInteger = false
      _ = consume(UInt8(ascii: "+")) || consume(UInt8(ascii: "-"))
      guard digits() > 0 else { throw failure("exponent digits") }
    }
    let text = String(decoding: bytes[start..<position], as: UTF8.self)
    if isInteger, let integer = Int(text) { return .integer(integer) }
    guard let number = Double(text) else { throw failure("a number") }
    // JSON has no infinities: a number beyond Double's range would become one, and what is
    // written back (by a calibration table, say) would not read as the same value.
    guard number.isFinite else {
      throw JSONParseError(message: "the number at byte \(start) is out of range (beyond ±1.8e308): \(text.prefix(40))")
    }
    return .number(number)
  }

  private mutating func digits() -> Int {
    let start = position
    while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
      position += 1
    }
    return position - start
  }
}
