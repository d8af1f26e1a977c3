/// A pickle reader (protocols 2–5) that only builds data and allow-listed PyTorch objects.
///
/// It interprets an explicit allow-list of opcodes and refuses every other one by name; it
/// resolves globals only against `AllowedGlobal` and refuses the rest by name
/// ("refusing pickle global os.system"). It never runs code. Its allocations are bounded:
/// strings and byte strings are checked against the remaining input before they are read,
/// and the memo, the stack, container nesting and container work are capped by `Limits`.
package struct SafeUnpickler {
  /// Resource caps; the defaults are far above what a state_dict needs.
  struct Limits {
    var memoEntries = 1 << 20
    var stackDepth = 1 << 20
    var nestingDepth = 64
    var globalNameLength = 256
    /// Container elements that building and growing tuples, lists and dicts may touch, per
    /// byte of pickle input (plus `containerWorkFloor`). Containers are values, so growing
    /// one that is also memoized copies it; without this cap, a pickle that repeatedly
    /// fetches a large memoized list and appends to it would need memory quadratic in its
    /// length.
    var containerWorkPerByte = 16
    var containerWorkFloor = 1 << 20
  }

  private var reader: ByteReader
  private let limits: Limits
  private var stack: [PickleValue] = []
  private var marks: [Int] = []
  private var memo: [Int: PickleValue] = [:]
  /// Container elements still allowed to be built or copied (see `Limits`).
  private var containerWork: Int

  /// Reads one pickle from `bytes[range]`; returns its value and the index after its STOP.
  static func load(
    _ bytes: [UInt8], range: Range<Int>, limits: Limits = Limits()
  ) throws(CheckpointError) -> (value: PickleValue, end: Int) {
    var unpickler = SafeUnpickler(reader: ByteReader(bytes, range: range), limits: limits)
    let value = try unpickler.run()
    return (value, unpickler.reader.position)
  }

  /// Reads the pickles in `bytes` one after another, as a legacy checkpoint holds them, until
  /// the input ends; returns what each built (`PickleValue.kindName`). For the unpickler's fuzz
  /// target (Tools/fuzz), which sees no other part of the checkpoint reader.
  package static func kindsOfPickles(in bytes: [UInt8]) throws(CheckpointError) -> [String] {
    var kinds: [String] = []
    var start = 0
    while start < bytes.count {
      let (value, end) = try load(bytes, range: start..<bytes.count)
      kinds.append(value.kindName)
      start = end
    }
    return kinds
  }

  private init(reader: ByteReader, limits: Limits) {
    self.reader = reader
    self.limits = limits
    let (scaled, overflow) = reader.remaining.multipliedReportingOverflow(by: limits.containerWorkPerByte)
    containerWork = overflow ? Int.max : max(scaled, limits.containerWorkFloor)
  }

  // MARK: - The interpreter loop

  private mutating func run() throws(CheckpointError) -> PickleValue {
    while true {
      let at = reader.position
      let code = try reader.readByte("a pickle opcode")
      switch code {
      case 0x80:  // PROTO
        let version = try reader.readByte("PROTO")
        guard version <= 5 else {
          throw CheckpointError(.malformedPickle, "unsupported pickle protocol \(version); expected 2 to 5")
        }
      case 0x95:  // FRAME: framing is advisory; check the length and read on.
        let length = try reader.read(UInt64.self, "FRAME")
        guard length <= UInt64(reader.remaining) else {
          throw CheckpointError(
            .truncated, "pickle FRAME at byte \(at) announces \(length) bytes; \(reader.remaining) left")
        }
      case 0x2E:  // STOP
        return try pop("STOP")
      case 0x28:  // MARK
        guard marks.count < limits.stackDepth else { throw limit("mark stack", limits.stackDepth) }
        marks.append(stack.count)
      case 0x7D: try push(.dict(PickleDict(ordered: false)))
      case 0x5D: try push(.list(PickleSequence()))
      case 0x29: try push(.tuple(PickleSequence()))
      case 0x74:
        let items = try popMark("TUPLE")
        try charge(items.count)
        try push(.tuple(PickleSequence(items)))
      case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
        let count = Int(code - 0x84)
        guard stack.count - (marks.last ?? 0) >= count else { throw underflow("TUPLE\(count)", at) }
        let items = Array(stack.suffix(count))
        stack.removeLast(count)
        try push(.tuple(PickleSequence(items)))
      case 0x73:  // SETITEM
        let value = try pop("SETITEM")
        let key = try pop("SETITEM")
        try updateDict("SETITEM", at, pairs: [key, value])
      case 0x75: try updateDict("SETITEMS", at, pairs: try popMark("SETITEMS"))
      case 0x61: try appendToList("APPEND", at, [try pop("APPEND")])
      case 0x65: try appendToList("APPENDS", at, try popMark("APPENDS"))
      case 0x4A: try push(.int(Int(Int32(bitPattern: try reader.read(UInt32.self, "BININT")))))
      case 0x4B: try push(.int(Int(try reader.readByte("BININT1"))))
      case 0x4D: try push(.int(Int(try reader.read(UInt16.self, "BININT2"))))
      case 0x8A: try push(try long1())
      case 0x47:  // BINFLOAT: big-endian IEEE double
        let bits = try reader.read(UInt64.self, "BINFLOAT")
        try push(.float(Double(bitPattern: bits.byteSwapped)))
      case 0x4E: try push(.none)
      case 0x88: try push(.bool(true))
      case 0x89: try push(.bool(false))
      case 0x58: try push(.string(try text(Int(try reader.read(UInt32.self, "BINUNICODE")), "BINUNICODE")))
      case 0x8C: try push(.string(try text(Int(try reader.readByte("SHORT_BINUNICODE")), "SHORT_BINUNICODE")))
      case 0x8D: try push(.string(try text(try length64("BINUNICODE8"), "BINUNICODE8")))
      case 0x54:  // BINSTRING (a Python 2 str; signed 32-bit length)
        let length = Int(Int32(bitPattern: try reader.read(UInt32.self, "BINSTRING")))
        try push(.string(try text(length, "BINSTRING")))
      case 0x55: try push(.string(try text(Int(try reader.readByte("SHORT_BINSTRING")), "SHORT_BINSTRING")))
      case 0x42:
        try push(.bytes(Array(try reader.readBytes(Int(try reader.read(UInt32.self, "BINBYTES")), "BINBYTES"))))
      case 0x43:
        try push(.bytes(Array(try reader.readBytes(Int(try reader.readByte("SHORT_BINBYTES")), "SHORT_BINBYTES"))))
      case 0x8E: try push(.bytes(Array(try reader.readBytes(try length64("BINBYTES8"), "BINBYTES8"))))
      case 0x71: try memoize(Int(try reader.readByte("BINPUT")), at)
      case 0x72: try memoize(Int(try reader.read(UInt32.self, "LONG_BINPUT")), at)
      case 0x94: try memoize(memo.count, at)
      case 0x68: try recall(Int(try reader.readByte("BINGET")), at)
      case 0x6A: try recall(Int(try reader.read(UInt32.self, "LONG_BINGET")), at)
      case 0x63:  // GLOBAL: "module\nname\n"
        let module = try line("GLOBAL module")
        let name = try line("GLOBAL name")
        try push(.global(try resolve(module: module, name: name)))
      case 0x93:  // STACK_GLOBAL
        let name = try pop("STACK_GLOBAL")
        let module = try pop("STACK_GLOBAL")
        guard case .string(let moduleText) = module, case .string(let nameText) = name else {
          throw CheckpointError(
            .malformedPickle, "STACK_GLOBAL at byte \(at) needs two strings; found \(module.kindName), \(name.kindName)"
          )
        }
        try push(.global(try resolve(module: moduleText, name: nameText)))
      case 0x52:  // REDUCE
        let arguments = try pop("REDUCE")
        let callable = try pop("REDUCE")
        try push(try TorchObjects.call(callable, arguments, at: at))
      case 0x62:  // BUILD
        let state = try pop("BUILD")
        let target = try pop("BUILD")
        try push(try TorchObjects.build(target, state: state, at: at))
      case 0x51:  // BINPERSID
        try push(try TorchObjects.persistentLoad(try pop("BINPERSID"), at: at))
      default:
        throw CheckpointError(
          .refusedOpcode, "refusing pickle opcode \(PickleOpcode.describe(code)) at byte \(at)")
      }
    }
  }

  // MARK: - Stack, marks and memo

  private mutating func push(_ value: PickleValue) throws(CheckpointError) {
    guard stack.count < limits.stackDepth else { throw limit("stack", limits.stackDepth) }
    guard value.depth <= limits.nestingDepth else { throw limit("container nesting", limits.nestingDepth) }
    stack.append(value)
  }

  private mutating func pop(_ opcode: String) throws(CheckpointError) -> PickleValue {
    guard stack.count > (marks.last ?? 0) else { throw underflow(opcode, reader.position - 1) }
    return stack.removeLast()
  }

  private mutating func popMark(_ opcode: String) throws(CheckpointError) -> [PickleValue] {
    guard let mark = marks.popLast() else {
      throw CheckpointError(.malformedPickle, "\(opcode) at byte \(reader.position - 1) has no MARK")
    }
    let items = Array(stack[mark...])
    stack.removeSubrange(mark...)
    return items
  }

  private mutating func memoize(_ index: Int, _ at: Int) throws(CheckpointError) {
    guard let top = stack.last, stack.count > (marks.last ?? 0) else { throw underflow("memo put", at) }
    guard memo[index] != nil || memo.count < limits.memoEntries else {
      throw limit("memo", limits.memoEntries)
    }
    memo[index] = top
  }

  private mutating func recall(_ index: Int, _ at: Int) throws(CheckpointError) {
    guard let value = memo[index] else {
      throw CheckpointError(.malformedPickle, "memo get at byte \(at) reads entry \(index), which was never written")
    }
    try push(value)
  }

  // MARK: - Containers

  private mutating func appendToList(_ opcode: String, _ at: Int, _ items: [PickleValue]) throws(CheckpointError) {
    let target = try pop(opcode)
    guard case .list(var list) = target else {
      throw CheckpointError(.malformedPickle, "\(opcode) at byte \(at) needs a list; found \(target.kindName)")
    }
    try charge(list.items.count + items.count)
    for item in items { list.append(item) }
    try push(.list(list))
  }

  private mutating func updateDict(_ opcode: String, _ at: Int, pairs: [PickleValue]) throws(CheckpointError) {
    guard pairs.count % 2 == 0 else {
      throw CheckpointError(.malformedPickle, "\(opcode) at byte \(at) has an odd number (\(pairs.count)) of items")
    }
    let target = try pop(opcode)
    guard case .dict(var dict) = target else {
      throw CheckpointError(.malformedPickle, "\(opcode) at byte \(at) needs a dict; found \(target.kindName)")
    }
    try charge(dict.entries.count + pairs.count / 2)
    for pair in stride(from: 0, to: pairs.count, by: 2) { dict.set(pairs[pair], pairs[pair + 1]) }
    try push(.dict(dict))
  }

  /// Spends `elements` of the container work budget.
  private mutating func charge(_ elements: Int) throws(CheckpointError) {
    guard elements <= containerWork else {
      throw CheckpointError(
        .limitExceeded,
        "pickle exceeds its container work limit at byte \(reader.position) (containers grown or copied too often)")
    }
    containerWork -= elements
  }

  // MARK: - Operands

  private mutating func length64(_ opcode: String) throws(CheckpointError) -> Int {
    let length = try reader.read(UInt64.self, opcode)
    guard length <= UInt64(reader.remaining) else {
      throw CheckpointError(
        .truncated, "\(opcode) at byte \(reader.position - 9) announces \(length) bytes; \(reader.remaining) left")
    }
    return Int(length)
  }

  /// Reads `length` bytes (checked against the remaining input) as UTF-8 text.
  private mutating func text(_ length: Int, _ opcode: String) throws(CheckpointError) -> String {
    let at = reader.position
    let bytes = try reader.readBytes(length, opcode)
    let string = String(decoding: bytes, as: UTF8.self)
    guard string.utf8.elementsEqual(bytes) else {
      throw CheckpointError(.malformedPickle, "\(opcode) at byte \(at) is not valid UTF-8")
    }
    return string
  }

  private mutating func line(_ what: String) throws(CheckpointError) -> String {
    let at = reader.position
    let bytes = try reader.readLine(limit: limits.globalNameLength, what)
    guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
      throw CheckpointError(.malformedPickle, "\(what) at byte \(at) is not printable ASCII")
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// LONG1: a little-endian two's complement integer of up to 255 bytes.
  private mutating func long1() throws(CheckpointError) -> PickleValue {
    let count = Int(try reader.readByte("LONG1"))
    let bytes = Array(try reader.readBytes(count, "LONG1"))
    guard count <= 8 else { return .bigInt(bytes) }
    guard let last = bytes.last else { return .int(0) }
    var value: UInt64 = last & 0x80 != 0 ? ~0 : 0  // sign extension
    for (index, byte) in bytes.enumerated() {
      value &= ~(UInt64(0xFF) << (8 * index))
      value |= UInt64(byte) << (8 * index)
    }
    return .int(Int(Int64(bitPattern: value)))
  }

  private func resolve(module: String, name: String) throws(CheckpointError) -> AllowedGlobal {
    guard let global = AllowedGlobal(module: module, name: name) else {
      throw CheckpointError(.refusedGlobal, "refusing pickle global \(module).\(name)")
    }
    return global
  }

  // MARK: - Errors

  private func underflow(_ opcode: String, _ at: Int) -> CheckpointError {
    CheckpointError(.malformedPickle, "\(opcode) at byte \(at) needs more stack items than there are")
  }

  private func limit(_ what: String, _ cap: Int) -> CheckpointError {
    CheckpointError(.limitExceeded, "pickle exceeds the \(what) limit of \(cap) at byte \(reader.position)")
  }
}
