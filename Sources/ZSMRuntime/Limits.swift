#if canImport(Glibc)
  import Glibc
#endif

/// The bounds on sizes that come from options and configuration files, checked once where
/// they enter (the command line, the daemon's configuration) and stated in `--help`.
public enum Limits {
  /// Input frames per window (`--window`, `inspect --frames`, the daemon's `window`).
  public static let maximumWindow = 1024
  /// Worker threads asked for (`--threads`); the pool is further capped by `availableProcessors`.
  public static let maximumThreads = 256
  /// Input frame indices of `upscale --frames A:B`.
  public static let maximumFrameIndex = 1_000_000_000
  /// Width or height of a network input frame: 4x it must be a size Y4M streams may have
  /// (`Y4MHeader.maximumDimension`, 16384).
  public static let maximumFrameDimension = 4096

  /// CPUs this process may run on: its affinity mask (`Cpus_allowed` of /proc/self/status),
  /// at most the online CPUs.
  public static func availableProcessors() -> Int {
    let online = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    guard let mask = ProcFile.value(of: "Cpus_allowed", in: "/proc/self/status") else { return online }
    var count = 0
    for c in mask {
      if let digit = c.hexDigitValue { count += digit.nonzeroBitCount }
    }
    return count > 0 ? min(count, online) : online
  }

  /// The worker threads to start for `requested`: more threads than CPUs only contend (256
  /// threads on 2 CPUs ran 100x slower), so the count is capped by `availableProcessors`.
  public static func workerThreads(requested: Int) -> Int {
    max(1, min(requested, maximumThreads, availableProcessors()))
  }
}
