/// One 64-byte aligned, zero-initialised allocation that holds every intermediate of a run.
/// Made once when a plan is prepared; nothing is allocated while frames are processed.
public final class Arena: @unchecked Sendable {
  public let base: UnsafeMutableRawPointer
  public let byteCount: Int

  public init(byteCount: Int) {
    self.byteCount = byteCount
    base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
    base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 64))
  }

  deinit { base.deallocate() }

  /// Float storage at a planned byte offset.
  public func floats(at offset: Int) -> UnsafeMutablePointer<Float> {
    (base + offset).assumingMemoryBound(to: Float.self)
  }
}
