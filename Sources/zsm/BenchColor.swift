import ZSMKernels

/// Colour conversion kernels on camera and display frame sizes, for `zsm bench`. `bytes` is
/// what one call reads plus writes, so bytes / time compares with memory bandwidth.
func colorConversionBenchmarks() -> [(name: String, bytes: Int, run: () -> Void)] {
  var out: [(name: String, bytes: Int, run: () -> Void)] = []
  let c601 = YCbCrCoefficients(.bt601, .limited)
  for (w, h) in [(640, 480), (1280, 720)] {
    let size = "\(w)x\(h)"
    let floats = UnsafeMutablePointer<Float>.allocate(capacity: 3 * w * h)
    floats.initialize(repeating: 0.5, count: 3 * w * h)
    let rgb = PlanarRGB(packed: floats, width: w, height: h)
    let yuyv = UnsafeMutablePointer<UInt8>.allocate(capacity: 2 * w * h)
    yuyv.initialize(repeating: 128, count: 2 * w * h)
    let nv12 = UnsafeMutablePointer<UInt8>.allocate(capacity: w * h * 3 / 2)
    nv12.initialize(repeating: 128, count: w * h * 3 / 2)
    let xrgb = UnsafeMutableRawPointer.allocate(byteCount: 4 * w * h, alignment: 64)
    xrgb.initializeMemory(as: UInt8.self, repeating: 0, count: 4 * w * h)
    let rgbBytes = 12 * w * h
    // Bandwidth reference in the same run: copying one float frame (reads + writes 2 x 12 B/px).
    let copyDst = UnsafeMutableRawPointer.allocate(byteCount: rgbBytes, alignment: 64)
    copyDst.initializeMemory(as: UInt8.self, repeating: 0, count: rgbBytes)
    out.append(("memcpy-rgbf-\(size)", 2 * rgbBytes, { copyDst.copyMemory(from: floats, byteCount: rgbBytes) }))
    // (The buffers live as long as the process: the benchmark table is built once.)
    out.append(
      (
        "yuyv-to-rgbf-\(size)", 2 * w * h + rgbBytes,
        { convertYUYVToRGB(yuyv, srcRowBytes: 2 * w, to: rgb, coefficients: c601, rows: 0..<h) }
      ))
    out.append(
      (
        "nv12-to-rgbf-\(size)", w * h * 3 / 2 + rgbBytes,
        {
          convertNV12ToRGB(
            luma: nv12, lumaRowBytes: w, chroma: nv12 + w * h, chromaRowBytes: w, to: rgb, coefficients: c601,
            rows: 0..<h)
        }
      ))
    out.append(
      (
        "i420-to-rgbf-\(size)", w * h * 3 / 2 + rgbBytes,
        {
          convertPlanarYUVToRGB(
            luma: nv12, lumaRowBytes: w, cb: nv12 + w * h, cr: nv12 + w * h + w * h / 4, chromaRowBytes: w / 2,
            chromaShiftX: 1, chromaShiftY: 1, to: rgb, coefficients: c601, rows: 0..<h)
        }
      ))
    out.append(
      (
        "rgbf-to-yuyv-\(size)", rgbBytes + 2 * w * h,
        { convertRGBToYUYV(rgb, to: yuyv, dstRowBytes: 2 * w, coefficients: c601, rows: 0..<h) }
      ))
    out.append(
      (
        "rgbf-to-i420-\(size)", rgbBytes + w * h * 3 / 2,
        {
          convertRGBToPlanarYUV(
            rgb, luma: nv12, lumaRowBytes: w, cb: nv12 + w * h, cr: nv12 + w * h + w * h / 4, chromaRowBytes: w / 2,
            chromaShiftX: 1, chromaShiftY: 1, coefficients: c601, rows: 0..<h)
        }
      ))
    out.append(
      (
        "rgbf-to-xrgb8888-\(size)", rgbBytes + 4 * w * h,
        { convertRGBToXRGB8888(rgb, to: xrgb, dstRowBytes: 4 * w, rows: 0..<h) }
      ))
    out.append(
      (
        "xrgb8888-to-rgbf-\(size)", rgbBytes + 4 * w * h,
        { convertXRGB8888ToRGB(UnsafeRawPointer(xrgb), srcRowBytes: 4 * w, to: rgb, rows: 0..<h) }
      ))
  }
  return out
}
