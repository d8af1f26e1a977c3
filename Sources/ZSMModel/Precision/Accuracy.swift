/// PSNR in dB of `values` against `reference` for signals whose peak is 1 (the network's RGB
/// range): `10 log10(1 / MSE)`, over all values as given (not clamped). `infinity` when equal.
public func psnr(_ values: UnsafeBufferPointer<Float>, reference: UnsafeBufferPointer<Float>) -> Double {
  precondition(values.count == reference.count && !values.isEmpty)
  var sum = 0.0
  for i in 0..<values.count {
    let d = Double(values[i]) - Double(reference[i])
    sum += d * d
  }
  let mse = sum / Double(values.count)
  return mse == 0 ? .infinity : 10 * log10(1 / mse)
}

#if canImport(Glibc)
  import Glibc
#endif
