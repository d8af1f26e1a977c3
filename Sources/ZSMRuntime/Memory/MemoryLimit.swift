import CZSMCPU
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A memory need that cannot be met: what it was for, how many bytes, and the limit.
public struct MemoryError: Error, CustomStringConvertible, Sendable {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// The cap on the large allocations of a run (the network's arena, the clip's frame buffers).
///
/// Every such allocation is compared with the cap *before* it is made, and the allocation
/// itself is fallible (`posix_memalign`), so a window too large for the machine ends in a
/// `MemoryError` naming the bytes needed, never in the allocator's abort. The cap counts what
/// is allocated through it and not yet freed. It defaults to `defaultShare` of the
/// `MemAvailable` of /proc/meminfo (read once); `zsm --max-memory` sets it.
public enum MemoryLimit {
  /// The share of available memory the default cap allows.
  public static let defaultShare = 0.8
  private static let state = Mutex<(limit: Int?, inUse: Int)>((nil, 0))

  /// Bytes that may be allocated through the cap in all (the default when not set).
  public static var bytes: Int {
    get { state.withLock { $0.limit } ?? defaultBytes }
    set { state.withLock { $0.limit = max(0, newValue) } }
  }

  /// Bytes allocated through the cap and not freed.
  public static var bytesInUse: Int { state.withLock { $0.inUse } }

  /// Restores the default cap.
  public static func reset() { state.withLock { $0.limit = nil } }

  /// `defaultShare` of MemAvailable, or `Int.max` where /proc/meminfo cannot be read.
  public static let defaultBytes: Int = {
    guard let available = availableBytes() else { return Int.max }
    return Int(Double(available) * defaultShare)
  }()

  /// MemAvailable of /proc/meminfo, in bytes.
  public static func availableBytes() -> Int? {
    // "MemAvailable:   12345678 kB"
    guard let value = ProcFile.value(of: "MemAvailable", in: "/proc/meminfo"),
      let kb = value.split(separator: " ").first.flatMap({ Int($0) })
    else { return nil }
    let (bytes, overflow) = kb.multipliedReportingOverflow(by: 1024)
    return overflow ? Int.max : bytes
  }

  /// Throws unless `byteCount` more bytes fit under the cap. `what` names the need in the error.
  public static func check(_ byteCount: Int, for what: String) throws(MemoryError) {
    let limit = bytes
    let inUse = bytesInUse
    let (total, overflow) = inUse.addingReportingOverflow(byteCount)
    if byteCount < 0 || overflow || total > limit {
      throw MemoryError(
        "\(what) needs \(formatted(byteCount))"
          + (inUse > 0 ? " beside the \(formatted(inUse)) already allocated" : "")
          + "; the memory limit is \(formatted(limit)) (--max-memory; the default is "
          + "\(Int(defaultShare * 100))% of the available memory)")
    }
  }

  /// Allocations of at least this many bytes are their own mappings (`mmap`), given back to
  /// the system whole when freed. Through malloc, glibc raises its mmap threshold after the
  /// first large free and then serves arenas of alternating sizes (a daemon reloading window
  /// 2 <-> 3, tail windows) from its heap, which fragments and keeps growing: the daemon soak
  /// test saw +1 MB over 900 windows.
  public static let mappedThreshold = 64 << 10

  /// Allocates `byteCount` bytes (64-byte aligned; page aligned from `mappedThreshold` on)
  /// after checking the cap; `what` names the need in the error. Free with `deallocate`, with
  /// the same `byteCount`.
  public static func allocate(byteCount: Int, for what: String) throws(MemoryError) -> UnsafeMutableRawPointer {
    try check(byteCount, for: what)
    var pointer: UnsafeMutableRawPointer?
    if byteCount >= mappedThreshold {
      let p = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
      if let p, p != MAP_FAILED { pointer = p }
    } else if posix_memalign(&pointer, 64, max(byteCount, 64)) != 0 {
      pointer = nil
    }
    guard let pointer else {
      throw MemoryError("\(what) needs \(formatted(byteCount)), which the system could not allocate")
    }
    state.withLock { $0.inUse += byteCount }
    return pointer
  }

  /// Frees what `allocate` returned (`byteCount` as given to it).
  public static func deallocate(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
    if byteCount >= mappedThreshold { munmap(pointer, byteCount) } else { free(pointer) }
    state.withLock { $0.inUse -= byteCount }
  }

  /// Gives the heap's free pages back to the kernel (glibc `malloc_trim(0)`; nothing elsewhere).
  /// For a long-running process after it released one network and built another: the freed
  /// buffers below the mapping threshold otherwise stay resident in whatever pieces the new
  /// allocations did not reuse, and the resident size after a reload wanders by megabytes.
  public static func releaseFreeHeap() {
    _ = zsm_release_free_heap()
  }

  /// `n` with a decimal unit (B, kB, MB, GB, TB), as the error messages show sizes.
  public static func formatted(_ n: Int) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    var value = Double(n)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
      value /= 1000
      unit += 1
    }
    if unit == 0 { return "\(n) B" }
    let tenths = (value * 10).rounded()
    return "\(Int(tenths) / 10).\(Int(tenths) % 10) \(units[unit])"
  }
}
