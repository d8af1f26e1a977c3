import ZSMKernels

/// A shape or layout mismatch found by the runtime's validation, with what was expected and
/// what was given.
public struct ShapeError: Error, Equatable, CustomStringConvertible {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// A tensor in memory: its descriptor and the address of its storage (the first float of the
/// halo). A view may be a channel slice of a wider tensor; it never owns memory.
public struct TensorView: @unchecked Sendable {
  public let descriptor: TensorDescriptor
  public let storage: UnsafeMutablePointer<Float>

  public init(_ descriptor: TensorDescriptor, storage: UnsafeMutablePointer<Float>) {
    self.descriptor = descriptor
    self.storage = storage
  }

  public var map: FeatureMap {
    precondition(descriptor.element == .float32, "an fp16 tensor read as fp32")
    return descriptor.map(at: storage)
  }
  public var anyMap: AnyFeatureMap { descriptor.anyMap(at: UnsafeMutableRawPointer(storage)) }
  public var height: Int { descriptor.height }
  public var width: Int { descriptor.width }
  public var channels: Int { descriptor.channels }

  /// Channels `start ..< start + count`, e.g. one operand of a concatenation.
  public func channels(_ start: Int, _ count: Int) throws(ShapeError) -> TensorView {
    guard start >= 0, count > 0, start + count <= channels else {
      throw ShapeError("channel slice \(start)..<\(start + count) is outside a tensor of \(channels) channels")
    }
    var d = descriptor
    d.channels = count
    let raw = UnsafeMutableRawPointer(storage) + start * d.element.byteCount
    return TensorView(d, storage: raw.assumingMemoryBound(to: Float.self))
  }

  /// Zeroes the halo (see `TensorDescriptor.clearHalo`).
  public func clearHalo() { descriptor.clearHalo(at: storage) }
}

/// Storage for tensors that live outside the arena (tests, tools): one aligned, zeroed block.
public final class TensorStorage: @unchecked Sendable {
  public let view: TensorView
  private let raw: UnsafeMutableRawPointer

  public init(_ descriptor: TensorDescriptor) {
    let bytes = max(64, descriptor.byteCount)
    raw = .allocate(byteCount: bytes, alignment: 64)
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    view = TensorView(descriptor, storage: raw.assumingMemoryBound(to: Float.self))
  }

  deinit { raw.deallocate() }
}
