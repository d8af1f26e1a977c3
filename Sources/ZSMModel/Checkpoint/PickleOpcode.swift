/// Names of every pickle opcode (protocols 0–5), so refusals can name what they refused.
enum PickleOpcode {
  /// The opcode's name as in Python's `pickletools`, or nil for a byte that is no opcode.
  static func name(of code: UInt8) -> String? {
    if let name = printable[code] { return name }
    let high = Int(code) - 0x80
    guard high >= 0, high < extended.count else { return nil }
    return extended[high]
  }

  /// A refusal message's rendering of an opcode: `INST (0x69, 'i')` or `0xff (not an opcode)`.
  static func describe(_ code: UInt8) -> String {
    let hex = "0x" + String(code, radix: 16)
    guard let name = name(of: code) else { return "\(hex) (not a pickle opcode)" }
    if code >= 0x20, code < 0x7F { return "\(name) (\(hex), '\(Character(Unicode.Scalar(code)))')" }
    return "\(name) (\(hex))"
  }

  private static let printable: [UInt8: String] = [
    0x28: "MARK", 0x2E: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT",
    0x4A: "BININT", 0x4B: "BININT1", 0x4C: "LONG", 0x4D: "BININT2", 0x4E: "NONE", 0x50: "PERSID",
    0x51: "BINPERSID", 0x52: "REDUCE", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
    0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND", 0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT",
    0x7D: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET", 0x69: "INST", 0x6A: "LONG_BINGET",
    0x6C: "LIST", 0x5D: "EMPTY_LIST", 0x6F: "OBJ", 0x70: "PUT", 0x71: "BINPUT", 0x72: "LONG_BINPUT",
    0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
    0x42: "BINBYTES", 0x43: "SHORT_BINBYTES",
  ]

  private static let extended = [
    "PROTO", "NEWOBJ", "EXT1", "EXT2", "EXT4", "TUPLE1", "TUPLE2", "TUPLE3", "NEWTRUE", "NEWFALSE", "LONG1",
    "LONG4", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES8", "EMPTY_SET", "ADDITEMS", "FROZENSET",
    "NEWOBJ_EX", "STACK_GLOBAL", "MEMOIZE", "FRAME", "BYTEARRAY8", "NEXT_BUFFER", "READONLY_BUFFER",
  ]
}
