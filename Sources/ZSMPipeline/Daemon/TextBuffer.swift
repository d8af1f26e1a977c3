#if canImport(Glibc)
  import Glibc
#endif

/// A fixed byte buffer for text written every window (metrics, STATUS lines): appending
/// literals and numbers allocates nothing, unlike String interpolation.
struct TextBuffer {
  let bytes: UnsafeMutablePointer<UInt8>
  let capacity: Int
  private(set) var count = 0

  init(capacity: Int) {
    self.capacity = capacity
    bytes = .allocate(capacity: capacity)
  }

  func deallocate() { bytes.deallocate() }

  mutating func clear() { count = 0 }

  mutating func append(_ text: StaticString) {
    text.withUTF8Buffer { b in
      for byte in b where count < capacity {
        bytes[count] = byte
        count += 1
      }
    }
  }

  mutating func append(bytes other: [UInt8]) {
    for byte in other where count < capacity {
      bytes[count] = byte
      count += 1
    }
  }

  mutating func append(_ value: Int) {
    if value < 0 { append("-") }
    var v = value.magnitude
    var digits:
      (
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
      ) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var n = 0
    withUnsafeMutableBytes(of: &digits) { d in
      repeat {
        d[n] = UInt8(ascii: "0") + UInt8(v % 10)
        v /= 10
        n += 1
      } while v > 0
      while n > 0 && count < capacity {
        n -= 1
        bytes[count] = d[n]
        count += 1
      }
    }
  }

  /// A non-negative number with 6 decimals (plenty for seconds in metrics).
  mutating func append(_ value: Double) {
    guard value.isFinite else {
      append("NaN")
      return
    }
    if value < 0 { append("-") }
    let micro = Int((abs(value) * 1e6).rounded())
    append(micro / 1_000_000)
    append(".")
    var fraction = micro % 1_000_000
    var divisor = 100_000
    while divisor > 0 {
      append(fraction / divisor)
      fraction %= divisor
      divisor /= 10
    }
  }

  /// Replaces the file `path` (a C string) atomically: writes `temporary`, then renames it.
  /// Nil on success, else what failed and the system's reason.
  func writeAtomically(temporary: UnsafePointer<CChar>, path: UnsafePointer<CChar>) -> String? {
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return "cannot create \(String(cString: temporary)): \(String(cString: strerror(errno)))" }
    var done = 0
    while done < count {
      let n = write(fd, bytes + done, count - done)
      if n < 0 {
        if errno == EINTR { continue }
        let reason = "cannot write \(String(cString: temporary)): \(String(cString: strerror(errno)))"
        close(fd)
        unlink(temporary)
        return reason
      }
      done += n
    }
    close(fd)
    guard rename(temporary, path) == 0 else {
      let reason = "cannot rename \(String(cString: temporary)) over it: \(String(cString: strerror(errno)))"
      unlink(temporary)
      return reason
    }
    return nil
  }
}
