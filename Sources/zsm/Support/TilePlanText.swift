import ZSMPipeline
import ZSMRuntime

/// One line describing how a clip is tiled, for upscale's and inspect's reports.
func tilePlanText(_ plan: TilePlan, spills: Bool, plannedBytes: Int) -> String {
  let columns = (plan.frameWidth + plan.core - 1) / plan.core
  let rows = (plan.frameHeight + plan.core - 1) / plan.core
  return "tiles           \(columns)x\(rows) = \(plan.tiles.count) tiles of \(plan.core) LR pixels with a "
    + "\(plan.halo)-pixel halo (the network sees \(fmt(plan.overhead, 2))x a whole frame's pixels); "
    + "\(MemoryLimit.formatted(plannedBytes)) planned"
    + (spills ? "; a window's outputs wait in a temporary file in \(ClipUpscaler.spillDirectory)" : "")
}
