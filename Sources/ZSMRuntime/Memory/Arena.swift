/// One 64-byte aligned allocation that holds every intermediate of a run. Made once when a
/// plan is prepared; nothing is allocated while frames are processed. It is not cleared: every
/// tensor is written before it is read (halos are zeroed when a tensor is created), and pages
/// never touched never count against the process's memory. It is allocated through
/// `MemoryLimit`: one larger than the cap, or than the system gives, is an error.
public final class Arena: @unchecked Sendable {
  public let base: UnsafeMutableRawPointer
  public let byteCount: Int

  public init(byteCount: Int, for what: String = "the arena") throws(MemoryError) {
    self.byteCount = byteCount
    base = try MemoryLimit.allocate(byteCount: byteCount, for: what)
  }

  deinit { MemoryLimit.deallocate(base, byteCount: byteCount) }

  /// Float storage at a planned byte offset.
  public func floats(at offset: Int) -> UnsafeMutablePointer<Float> {
    (base + offset).assumingMemoryBound(to: Float.self)
  }
}
