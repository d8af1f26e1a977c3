#if canImport(Glibc)
  import Glibc
#endif

func log10Double(_ x: Double) -> Double { log10(x) }
func expDouble(_ x: Double) -> Double { exp(x) }
