import ZSMRuntime

#if canImport(Glibc)
  import Glibc
#endif

/// CPU seconds this process has used (all threads).
func processCPUSeconds() -> Double {
  var usage = rusage()
  getrusage(RUSAGE_SELF.rawValue, &usage)
  return Double(usage.ru_utime.tv_sec) + 1e-6 * Double(usage.ru_utime.tv_usec) + Double(usage.ru_stime.tv_sec)
    + 1e-6 * Double(usage.ru_stime.tv_usec)
}

/// Peak resident set size of this process, in bytes: `VmHWM` of /proc/self/status, the
/// high-water mark of this program's own memory image. (Not `getrusage`'s `ru_maxrss`: Linux
/// carries it over fork and exec, so a zsm started by a 900 MB Python process reported 900 MB.)
func peakResidentBytes() -> Int {
  if let text = ProcFile.value(of: "VmHWM", in: "/proc/self/status"),
    let kib = Int(text.prefix { $0 != " " })
  {
    return kib * 1024
  }
  var usage = rusage()
  getrusage(RUSAGE_SELF.rawValue, &usage)
  return Int(usage.ru_maxrss) * 1024
}

/// Busy and total jiffies of the whole machine, from /proc/stat.
private func machineJiffies() -> (busy: Double, total: Double)? {
  guard let file = fopen("/proc/stat", "r") else { return nil }
  defer { fclose(file) }
  var line = [CChar](repeating: 0, count: 512)
  guard fgets(&line, Int32(line.count), file) != nil else { return nil }
  let fields = String(cString: line).split(separator: " ").dropFirst().compactMap { Double($0) }
  guard fields.count >= 5 else { return nil }
  let total = fields.reduce(0, +)
  let idle = fields[3] + fields[4]
  return (total - idle, total)
}

/// Cores' worth of CPU that *other* processes use, measured over `interval` seconds.
func foreignLoad(interval: Double = 0.2) -> Double? {
  let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
  guard let a = machineJiffies() else { return nil }
  let c0 = processCPUSeconds()
  let t0 = monotonicSeconds()
  usleep(useconds_t(interval * 1e6))
  guard let b = machineJiffies() else { return nil }
  let elapsed = monotonicSeconds() - t0
  let busy = (b.busy - a.busy) / ticks
  let own = processCPUSeconds() - c0
  return max(0, (busy - own) / elapsed)
}

/// Waits (up to `timeout` seconds) until other processes use less than `threshold` cores;
/// returns the last load seen.
@discardableResult
func waitForQuietMachine(threshold: Double = 0.15, timeout: Double = 20) -> Double {
  let deadline = monotonicSeconds() + timeout
  var load = foreignLoad() ?? 0
  while load > threshold && monotonicSeconds() < deadline { load = foreignLoad() ?? 0 }
  return load
}

/// Times `body` once; repeats (up to 5 times) when this process got less than `minShare` of
/// the cores it asked for, which means another process took them.
func timeUndisturbed(threads: Int, minShare: Double, _ body: () -> Void) -> (seconds: Double, disturbed: Bool) {
  var last = 0.0
  for attempt in 0..<5 {
    let c0 = processCPUSeconds()
    let t0 = monotonicSeconds()
    body()
    last = monotonicSeconds() - t0
    let cpu = processCPUSeconds() - c0
    if cpu >= minShare * Double(threads) * last { return (last, false) }
    usleep(useconds_t(20_000 * (attempt + 1)))
  }
  return (last, true)
}

func median(_ values: [Double]) -> Double {
  let s = values.sorted()
  return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2]))
}
