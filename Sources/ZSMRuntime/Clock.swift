#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Monotonic clock in nanoseconds (for timing; unaffected by wall-clock changes).
public func monotonicNanoseconds() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Monotonic clock in seconds.
public func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }
