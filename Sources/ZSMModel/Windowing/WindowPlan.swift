/// Which network windows a clip of `frameCount` input frames is cut into, and which outputs
/// each window contributes, so that every output frame is produced exactly once.
///
/// Output index `2k` is input frame `k`; `2k + 1` is the frame interpolated between `k` and
/// `k + 1`; a clip of L frames has 2L - 1 outputs. Windows of N frames start every N - 1
/// frames, so neighbours share one input frame and therefore one output frame; the *earlier*
/// window's copy is kept (it is that window's last output, so it can be emitted as soon as
/// the window finishes). When (L - 1) is not a multiple of N - 1, a last window is aligned to
/// the end of the clip and contributes only the outputs not produced yet (upstream silently
/// drops those tail frames). A clip shorter than N frames is one window of L frames.
public struct WindowPlan: Sendable, Equatable {
  /// One network call.
  public struct Window: Sendable, Equatable {
    /// Input frames `firstFrame ..< firstFrame + frameCount`.
    public let firstFrame: Int
    public let frameCount: Int
    /// Global output indices this window contributes (a suffix of its 2N - 1 outputs).
    public let outputs: Range<Int>

    public init(firstFrame: Int, frameCount: Int, outputs: Range<Int>) {
      self.firstFrame = firstFrame
      self.frameCount = frameCount
      self.outputs = outputs
    }

    /// Global output index of this window's output `i`.
    public func globalOutput(_ i: Int) -> Int { 2 * firstFrame + i }
  }

  public let frameCount: Int
  public let windowSize: Int
  public let windows: [Window]

  /// - Parameters:
  ///   - frameCount: input frames of the whole clip (at least 2).
  ///   - windowSize: input frames per window N (at least 2).
  public init(frameCount: Int, windowSize: Int) {
    precondition(frameCount >= 2 && windowSize >= 2)
    self.frameCount = frameCount
    self.windowSize = windowSize
    let n = min(windowSize, frameCount)
    var windows: [Window] = []
    var produced = 0  // outputs 0..<produced exist
    var start = 0
    while produced < 2 * frameCount - 1 {
      let first = min(start, frameCount - n)
      let end = 2 * (first + n - 1) + 1
      windows.append(Window(firstFrame: first, frameCount: n, outputs: produced..<end))
      produced = end
      start += n - 1
    }
    self.windows = windows
  }

  public var outputCount: Int { 2 * frameCount - 1 }

  /// The part of the plan that produces the outputs of input frames `frames` (a range of a
  /// clip cut for parallel jobs): output indices `2A ..< 2B`, or up to the clip's last output
  /// when the range reaches the end. The windows are the whole clip's windows, restricted to
  /// those outputs, so the outputs of consecutive ranges concatenate to exactly one whole run.
  public func restricted(to frames: Range<Int>) -> [Window] {
    let lower = 2 * max(0, frames.lowerBound)
    let upper = frames.upperBound >= frameCount ? outputCount : 2 * frames.upperBound
    return windows.compactMap { w in
      let first = max(w.outputs.lowerBound, lower)
      let end = min(w.outputs.upperBound, upper)
      return first < end ? Window(firstFrame: w.firstFrame, frameCount: w.frameCount, outputs: first..<end) : nil
    }
  }
}
