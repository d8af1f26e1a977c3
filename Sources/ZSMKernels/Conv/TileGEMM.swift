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
    var x = 0
    switch nr {
    case 64:
      while x &+ microKernelPixels64 <= count {
        let ep = EpilogueBlock(
          bias: bias, kind: epilogue, residual: resBlock + x &* residualPStride, residualPStride: residualPStride,
          validLanes: valid)
        microKernel_p6x64(
          a + x &* pStride, pStride, kxStride, kyStride, nKy, nKx, kPerTap, b, outBlock + x &* outPStride,
          outPStride, ep)
        x &+= microKernelPixels64
      }
      if x < count {
        let ep = EpilogueBlock(
          bias: bias, kind: epilogue, residual: resBlock + x &* residualPStride, residualPStride: residualPStride,
          validLanes: valid)
        microKernelTail64(
          count &- x, a + x &* pStride, pStride, kxStride, kyStride, nKy, nKx, kPerTap, b,
          outBlock + x &* outPStride, outPStride, ep)
      }
    case 32:
      while x &+ microKernelPixels32 <= count {
        let ep = EpilogueBlock(
          bias: bias, kind: epilogue, residual: resBlock + x &* residualPStride, residualPStride: residualPStride,
          validLanes: valid)
        microKernel_p12x32(
          a + x &* pStride, pStride, kxStride, kyStride, nKy, nKx, kPerTap, b, outBlock + x &* outPStride,
          outPStride, ep)
        x &+= microKernelPixels32
      }
      if x < count {
        let ep = EpilogueBlock(
          bias: bias, kind: epilogue, residual: resBlock + x &* residualPStride, residualPStride: residualPStride,
          validLanes: valid)
        microKernelTail32(
          count &- x, a + x &* pStride, pStride, kxStride, kyStride, nKy, nKx, kPerTap, b,
          outBlock + x &* outPStride, outPStride, ep)
      }
    default:
      while x &+ microKernelPixels16 <= count {
        let ep = EpilogueBlock(
          bias: bias, kind: epilogue, residual: resBlock + x &* residualPStride, residualPStride: residualPStride,
          validLanes: valid)
        microKernel_p12x16(
          a + x &* pStride, pStride, kxStride, kyStride, nKy, nKx, kPerTap, b, outBlock + x &* outPStride,
          outPStride, ep)
        x &+= microKernelPixels16
      }
      if x < count {
        let ep = EpilogueBlock(
          bias: bias, kind: epilogue, residual: resBlock + x &* residualPStride, residualPStride: residualPStride,
          validLanes: valid)
        microKernelTail16(
          count &- x, a + x &* pStride, pStride, kxStride, kyStride, nKy, nKx, kPerTap, b,
          outBlock + x &* outPStride, outPStride, ep)
      }
    }
    o0 &+= nr
  }
}
