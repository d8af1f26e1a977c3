/// Runs the register-blocked micro-kernels over one row of `count` output pixels for every
/// output-channel block. This is the single inner engine of the 3x3, 1x1 and deformable
/// convolutions; they differ only in how `a` addresses the input:
/// pixel `p`, tap `(ky, kx)`, input channel `k` is `a[p*pStride + ky*kyStride + kx*kxStride + k]`.
@inline(__always)
func runTileRow(
  count: Int, a: UnsafePointer<Float>, pStride: Int, kxStride: Int, kyStride: Int, nKy: Int, nKx: Int,
  weights w: PackedConvWeights, out: UnsafeMutablePointer<Float>, outPStride: Int,
  epilogue: Epilogue, residual: UnsafePointer<Float>, residualPStride: Int
) {
  let layout = w.layout
  let kPerTap = layout.inputChannels
  let blockStride = layout.taps * kPerTap
  let cout = layout.outputChannels
  var o0 = 0
  while o0 < layout.paddedOutputChannels {
    let nr = layout.blockWidth(at: o0)
    let b = w.weights + o0 &* blockStride
    let bias = w.bias + o0
    let outBlock = out + o0
    let resBlock = residual + o0
    let valid = min(nr, cout - o0)
    #if ZSM_AVX512
      switch nr {
      case 64:
        runOutputBlock64(
          count: count, a: a, pStride: pStride, kxStride: kxStride, kyStride: kyStride, nKy: nKy, nKx: nKx,
          kPerTap: kPerTap, b: b, out: outBlock, outPStride: outPStride, bias: bias, epilogue: epilogue,
          residual: resBlock, residualPStride: residualPStride, validLanes: valid)
      case 32:
        runOutputBlock32(
          count: count, a: a, pStride: pStride, kxStride: kxStride, kyStride: kyStride, nKy: nKy, nKx: nKx,
          kPerTap: kPerTap, b: b, out: outBlock, outPStride: outPStride, bias: bias, epilogue: epilogue,
          residual: resBlock, residualPStride: residualPStride, validLanes: valid)
      default:
        runOutputBlock16(
          count: count, a: a, pStride: pStride, kxStride: kxStride, kyStride: kyStride, nKy: nKy, nKx: nKx,
          kPerTap: kPerTap, b: b, out: outBlock, outPStride: outPStride, bias: bias, epilogue: epilogue,
          residual: resBlock, residualPStride: residualPStride, validLanes: valid)
      }
    #else
      runOutputBlock16(
        count: count, a: a, pStride: pStride, kxStride: kxStride, kyStride: kyStride, nKy: nKy, nKx: nKx,
        kPerTap: kPerTap, b: b, out: outBlock, outPStride: outPStride, bias: bias, epilogue: epilogue,
        residual: resBlock, residualPStride: residualPStride, validLanes: valid)
    #endif
    o0 &+= nr
  }
}
