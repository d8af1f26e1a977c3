#if canImport(Glibc)
  import Glibc
#endif

func monotonicSecondsPipeline() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
}
