/// Assigns every intermediate tensor an offset in one arena, by liveness.
///
/// Tensors are registered with the byte size and the first and last step (operation index)
/// at which they are used. As in XNNPACK's memory planner, the largest tensors are placed
/// first, each in the smallest gap between the blocks already placed whose lifetimes overlap
/// its own (or after the last of them). Offsets are 64-byte aligned.
public struct ArenaPlanner: Sendable {
  public struct Entry: Sendable, Equatable {
    public let bytes: Int
    public let firstUse: Int
    public let lastUse: Int
    public let name: String
  }

  public private(set) var entries: [Entry] = []

  public init() {}

  /// Registers a tensor; returns its id (index) for `ArenaPlan.offset(of:)`.
  @discardableResult
  public mutating func add(_ name: String, bytes: Int, firstUse: Int, lastUse: Int) -> Int {
    precondition(bytes >= 0 && firstUse <= lastUse, "invalid arena entry \(name)")
    entries.append(Entry(bytes: Self.align(bytes), firstUse: firstUse, lastUse: lastUse, name: name))
    return entries.count - 1
  }

  static func align(_ n: Int) -> Int { (n + 63) / 64 * 64 }

  /// Places every tensor and reports the arena size.
  public func plan() -> ArenaPlan {
    var offsets = [Int](repeating: 0, count: entries.count)
    let order = entries.indices.sorted {
      entries[$0].bytes != entries[$1].bytes ? entries[$0].bytes > entries[$1].bytes : $0 < $1
    }
    var placed: [Int] = []
    var total = 0
    for id in order {
      let e = entries[id]
      let conflicts =
        placed
        .filter { entries[$0].firstUse <= e.lastUse && e.firstUse <= entries[$0].lastUse }
        .map { (offsets[$0], offsets[$0] + entries[$0].bytes) }
        .sorted { $0.0 < $1.0 }
      var bestOffset = -1
      var bestGap = Int.max
      var cursor = 0
      for (start, end) in conflicts {
        if start - cursor >= e.bytes && start - cursor < bestGap {
          bestGap = start - cursor
          bestOffset = cursor
        }
        cursor = max(cursor, end)
      }
      if bestOffset < 0 { bestOffset = cursor }
      offsets[id] = bestOffset
      total = max(total, bestOffset + e.bytes)
      placed.append(id)
    }
    return ArenaPlan(entries: entries, offsets: offsets, totalBytes: total)
  }
}

/// The result of `ArenaPlanner.plan()`.
public struct ArenaPlan: Sendable {
  public let entries: [ArenaPlanner.Entry]
  public let offsets: [Int]
  /// Bytes of the one allocation that holds every planned tensor.
  public let totalBytes: Int

  public func offset(of id: Int) -> Int { offsets[id] }

  /// Sum of all tensor sizes: what the run would take without reuse.
  public var unplannedBytes: Int { entries.reduce(0) { $0 + $1.bytes } }
}
