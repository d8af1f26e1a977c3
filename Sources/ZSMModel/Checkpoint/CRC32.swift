/// The CRC-32 of zip archives (ISO 3309, reflected polynomial 0xEDB88320), table-driven.
enum CRC32 {
  private static let table: [UInt32] = (0..<256).map { index in
    var value = UInt32(index)
    for _ in 0..<8 { value = value & 1 != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
    return value
  }

  /// The CRC-32 of `bytes[range]`; the range must lie inside the buffer.
  static func checksum(_ bytes: [UInt8], _ range: Range<Int>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    table.withUnsafeBufferPointer { table in
      bytes.withUnsafeBufferPointer { buffer in
        for index in range { crc = table[Int((crc ^ UInt32(buffer[index])) & 0xFF)] ^ (crc >> 8) }
      }
    }
    return ~crc
  }

  /// `0x` and eight hex digits.
  static func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
  }
}
