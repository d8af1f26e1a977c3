#!/usr/bin/env python3
"""Generates the register-blocked fp32 micro-kernels of ZSMKernels.

    python3 Tools/gen-kernels.py > Sources/ZSMKernels/Gen/MicroKernels.swift

CI regenerates the file and fails on a difference, so edit this script, never the output.

Contract of every micro-kernel `microKernel_p<P>x<16V>` (P output pixels x 16*V output channels,
held in P*V SIMD16<Float> accumulators, written as separate scalar vars so LLVM keeps them in
registers; with AVX-512, 24 accumulators + 4 weight vectors + 1 broadcast fit the 32 zmm
registers):

    acc[p][0..<16V] = sum over ky < nKy, kx < nKx, k < kPerTap of
        a[p*pStride + ky*kyStride + kx*kxStride + k] * b[((ky*nKx + kx)*kPerTap + k)*16V + 0..<16V]

then `epilogue.finish` adds the bias, applies the activation or the residual, and stores.
The same kernel serves the 3x3 convolution (nKy = nKx = 3, kPerTap = Cin), the 1x1 convolution
(1, 1, Cin) and the deformable convolution over its gathered column tile (1, 1, 9*Cin).
"""

# (V vectors of 16 channels, P pixels of the full tile). x86-64 with AVX-512 (ZSM_AVX512, set
# by Package.swift) has 32 registers of 16 lanes: 24 accumulators fit. Every other target holds
# a SIMD16<Float> in several narrower registers, and gets 16-channel output blocks of 6 pixels:
# - NEON: 32 registers of 4 lanes, a SIMD16<Float> takes 4: 6 x 16 channels is 24 registers,
#   + 4 for the weights and 1 broadcast.
# - AVX2: 16 ymm registers of 8 lanes, a SIMD16<Float> takes 2: 6 x 16 channels is 12
#   registers, + 2 for the weights and 1 broadcast = 15 of 16. The AVX-512 tile (6 x 64) would
#   need 48 ymm registers for its accumulators alone and spill on every step.
# - x86-64 without AVX2 (a generic build: 16 xmm registers of 4 lanes) spills with any tile;
#   it is the portable, slow build.
SHAPES_WIDE = [(4, 6), (2, 12), (1, 12)]
SHAPES_NARROW = [(1, 6)]


def kernel(p_count, v_count):
  nr = 16 * v_count
  lines = []
  lines.append("@inline(__always)")
  lines.append(f"func microKernel_p{p_count}x{nr}(")
  lines.append("  _ a: UnsafePointer<Float>, _ pStride: Int, _ kxStride: Int, _ kyStride: Int,")
  lines.append("  _ nKy: Int, _ nKx: Int, _ kPerTap: Int, _ b: UnsafePointer<Float>,")
  lines.append("  _ out: UnsafeMutablePointer<Float>, _ outPStride: Int, _ epilogue: EpilogueBlock")
  lines.append(") {")
  for p in range(p_count):
    for v in range(v_count):
      lines.append(f"  var c{p}_{v} = SIMD16<Float>()")
  lines.append("  var bp = b")
  lines.append("  for ky in 0..<nKy {")
  lines.append("    for kx in 0..<nKx {")
  lines.append("      var ap = a + (ky &* kyStride &+ kx &* kxStride)")
  lines.append("      for _ in 0..<kPerTap {")
  for v in range(v_count):
    lines.append(f"        let b{v} = loadVector(bp + {16 * v})")
  for p in range(p_count):
    index = "0" if p == 0 else f"{p} &* pStride"
    lines.append(f"        let x{p} = SIMD16<Float>(repeating: ap[{index}])")
    for v in range(v_count):
      lines.append(f"        c{p}_{v} = c{p}_{v}.addingProduct(x{p}, b{v})")
  lines.append("        ap += 1")
  lines.append(f"        bp += {nr}")
  lines.append("      }")
  lines.append("    }")
  lines.append("  }")
  # Common case inline: every lane of the block exists. One switch per tile, then straight
  # vector code; partial blocks (the last block of a channel count that is not a multiple of
  # 16) take the lane-by-lane path in EpilogueBlock.finish.
  lines.append(f"  if epilogue.validLanes >= {nr} {{")
  for v in range(v_count):
    lines.append(f"    let bias{v} = loadVector(epilogue.bias + {16 * v})")
  for p in range(p_count):
    lines.append(f"    let o{p} = out + {p} &* outPStride")
  lines.append("    switch epilogue.kind {")
  for kind, expr in [("none", "{acc}"), ("relu", "relu({acc})"), ("leakyRelu", "leakyRelu({acc})")]:
    lines.append(f"    case .{kind}:")
    for p in range(p_count):
      for v in range(v_count):
        acc = f"c{p}_{v} + bias{v}"
        lines.append(f"      storeVector({expr.format(acc=acc)}, o{p} + {16 * v})")
  lines.append("    case .residual:")
  for p in range(p_count):
    lines.append(f"      let r{p} = epilogue.residual + {p} &* epilogue.residualPStride")
    for v in range(v_count):
      lines.append(f"      storeVector(c{p}_{v} + bias{v} + loadVector(r{p} + {16 * v}), o{p} + {16 * v})")
  lines.append("    }")
  lines.append("  } else {")
  for p in range(p_count):
    for v in range(v_count):
      lines.append(f"    epilogue.finish(c{p}_{v}, pixel: {p}, vector: {v}, out: out, outPStride: outPStride)")
  lines.append("  }")
  lines.append("}")
  return "\n".join(lines)


def dispatcher(v_count, full):
  nr = 16 * v_count
  lines = []
  lines.append("/// Runs the micro-kernel for `count` pixels (1...P) of a tile.")
  lines.append("@inline(__always)")
  lines.append(f"func microKernelTail{nr}(")
  lines.append("  _ count: Int, _ a: UnsafePointer<Float>, _ pStride: Int, _ kxStride: Int, _ kyStride: Int,")
  lines.append("  _ nKy: Int, _ nKx: Int, _ kPerTap: Int, _ b: UnsafePointer<Float>,")
  lines.append("  _ out: UnsafeMutablePointer<Float>, _ outPStride: Int, _ epilogue: EpilogueBlock")
  lines.append(") {")
  lines.append("  switch count {")
  for p in range(1, full + 1):
    lines.append(f"  case {p}:")
    lines.append(f"    microKernel_p{p}x{nr}(a, pStride, kxStride, kyStride, nKy, nKx, kPerTap, b, out, outPStride, epilogue)")
  lines.append("  default: break")
  lines.append("  }")
  lines.append("}")
  return "\n".join(lines)


def block_runner(v_count, full):
  nr = 16 * v_count
  lines = []
  lines.append(f"/// One {nr}-channel output block over `count` pixels: full {full}-pixel tiles, then the tail.")
  lines.append("@inline(__always)")
  lines.append(f"func runOutputBlock{nr}(")
  lines.append("  count: Int, a: UnsafePointer<Float>, pStride: Int, kxStride: Int, kyStride: Int, nKy: Int, nKx: Int,")
  lines.append("  kPerTap: Int, b: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, outPStride: Int,")
  lines.append("  bias: UnsafePointer<Float>, epilogue: Epilogue, residual: UnsafePointer<Float>, residualPStride: Int,")
  lines.append("  validLanes: Int")
  lines.append(") {")
  lines.append("  var x = 0")
  lines.append("  while x < count {")
  lines.append("    let ep = EpilogueBlock(")
  lines.append("      bias: bias, kind: epilogue, residual: residual + x &* residualPStride, residualPStride: residualPStride,")
  lines.append("      validLanes: validLanes)")
  lines.append("    let tileA = a + x &* pStride")
  lines.append("    let tileOut = out + x &* outPStride")
  lines.append(f"    if x &+ {full} <= count {{")
  lines.append(f"      microKernel_p{full}x{nr}(tileA, pStride, kxStride, kyStride, nKy, nKx, kPerTap, b, tileOut, outPStride, ep)")
  lines.append(f"      x &+= {full}")
  lines.append("    } else {")
  lines.append(f"      microKernelTail{nr}(count &- x, tileA, pStride, kxStride, kyStride, nKy, nKx, kPerTap, b, tileOut, outPStride, ep)")
  lines.append("      x = count")
  lines.append("    }")
  lines.append("  }")
  lines.append("}")
  return "\n".join(lines)


def main():
  out = [
    "// Generated by Tools/gen-kernels.py; do not edit. Regenerate with:",
    "//   python3 Tools/gen-kernels.py > Sources/ZSMKernels/Gen/MicroKernels.swift",
    "// swift-format-ignore-file",
    "",
  ]
  for condition, shapes in (("#if ZSM_AVX512", SHAPES_WIDE), ("#else", SHAPES_NARROW)):
    out.append(condition)
    out.append("")
    for v_count, full in shapes:
      for p in range(1, full + 1):
        out.append(kernel(p, v_count))
        out.append("")
      out.append(dispatcher(v_count, full))
      out.append("")
      out.append(block_runner(v_count, full))
      out.append("")
  out.append("#endif")
  print("\n".join(out).rstrip("\n"))


if __name__ == "__main__":
  main()
