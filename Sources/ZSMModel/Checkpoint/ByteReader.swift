/// A bounds-checked little-endian cursor over a range of a byte buffer.
///
/// Every read checks the remaining length first and throws `.truncated` naming what was
/// being read, so no read can run past the range whatever the file contains.
struct ByteReader {
  /// The whole buffer (shared, never copied).
  let bytes: [UInt8]
  /// One past the last readable index.
  let end: Int
  /// The index of the next byte to read.
  private(set) var position: Int

  /// A reader over `bytes[range]`; the range must lie inside the buffer.
  init(_ bytes: [UInt8], range: Range<Int>) {
    self.bytes = bytes
    self.position = max(0, min(range.lowerBound, bytes.count))
    self.end = max(self.position, min(range.upperBound, bytes.count))
  }

  /// A reader over the whole buffer.
  init(_ bytes: [UInt8]) { self.init(bytes, range: 0..<bytes.count) }

  /// Bytes left before `end`.
  var remaining: Int { end - position }

  /// Whether every byte has been read.
  var isAtEnd: Bool { position >= end }

  private func require(_ count: Int, _ what: String) throws(CheckpointError) {
    guard count >= 0, count <= remaining else {
      throw CheckpointError(
        .truncated,
        "input ends inside \(what) at byte \(position): need \(count) bytes, \(remaining) left")
    }
  }

  /// Reads one byte.
  mutating func readByte(_ what: String) throws(CheckpointError) -> UInt8 {
    try require(1, what)
    defer { position += 1 }
    return bytes[position]
  }

  /// Reads a little-endian unsigned integer of `T`'s width.
  mutating func read<T: FixedWidthInteger & UnsignedInteger>(
    _ type: T.Type, _ what: String
  ) throws(CheckpointError) -> T {
    let size = T.bitWidth / 8
    try require(size, what)
    var value: T = 0
    for index in 0..<size { value |= T(bytes[position + index]) << (8 * index) }
    position += size
    return value
  }

  /// Reads `count` raw bytes.
  mutating func readBytes(_ count: Int, _ what: String) throws(CheckpointError) -> ArraySlice<UInt8> {
    try require(count, what)
    defer { position += count }
    return bytes[position..<(position + count)]
  }

  /// Skips `count` bytes.
  mutating func skip(_ count: Int, _ what: String) throws(CheckpointError) {
    try require(count, what)
    position += count
  }

  /// Reads bytes up to (not including) the next `\n`, which is consumed; at most `limit` bytes.
  mutating func readLine(limit: Int, _ what: String) throws(CheckpointError) -> ArraySlice<UInt8> {
    let stop = min(end, position + limit + 1)
    var index = position
    while index < stop {
      if bytes[index] == 0x0A {
        defer { position = index + 1 }
        return bytes[position..<index]
      }
      index += 1
    }
    if stop == end {
      throw CheckpointError(.truncated, "input ends inside \(what) at byte \(position): no newline found")
    }
    throw CheckpointError(.malformedPickle, "\(what) at byte \(position) is longer than \(limit) bytes")
  }

  /// Reads the little-endian unsigned integer of `T`'s width at an absolute index, without
  /// moving the cursor; nil when it does not fit inside the buffer.
  static func value<T: FixedWidthInteger & UnsignedInteger>(
    _ type: T.Type, in bytes: [UInt8], at index: Int
  ) -> T? {
    let size = T.bitWidth / 8
    guard index >= 0, index <= bytes.count - size else { return nil }
    var value: T = 0
    for offset in 0..<size { value |= T(bytes[index + offset]) << (8 * offset) }
    return value
  }
}
