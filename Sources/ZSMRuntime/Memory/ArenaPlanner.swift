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
    // Sizes beyond what any machine can hold saturate (the plan then fails the memory check).
    let aligned = bytes > Int.max - 63 ? Int.max / 64 * 64 : Self.align(bytes)
    entries.append(Entry(bytes: aligned, firstUse: firstUse, lastUse: lastUse, name: name))
    return entries.count - 1
  }

  static func align(_ n: Int) -> Int { (n + 63) / 64 * 64 }

  /// Places every tensor and reports the arena size.
  ///
  /// The placement is the greedy best fit described above. Finding the free gaps beside the
  /// placed tensors whose lifetimes overlap a new one does not scan every placed tensor (which
  /// made planning a window of N frames cost about N², minutes for 1,000 frames): two segment
  /// trees over steps hold the byte ranges of the placed tensors as merged interval sets, one
  /// by lifetime (each lifetime in O(log steps) nodes: those alive at a step are on the path
  /// to its leaf) and one by first step (those beginning within a lifetime are in O(log steps)
  /// nodes). The gaps are the same as a full scan finds, so are the offsets. Sizes and offsets
  /// use checked arithmetic: an arena that would not fit in `Int` is an error.
  public func plan() throws(MemoryError) -> ArenaPlan {
    var offsets = [Int](repeating: 0, count: entries.count)
    guard !entries.isEmpty else { return ArenaPlan(entries: entries, offsets: offsets, totalBytes: 0) }
    let order = entries.indices.sorted {
      entries[$0].bytes != entries[$1].bytes ? entries[$0].bytes > entries[$1].bytes : $0 < $1
    }
    let firstStep = entries.reduce(Int.max) { min($0, $1.firstUse) }
    let lastStep = entries.reduce(Int.min) { max($0, $1.lastUse) }
    var leaves = 1
    while leaves < lastStep - firstStep + 1 { leaves *= 2 }
    var alive = [ByteRanges](repeating: ByteRanges(), count: 2 * leaves)
    var starting = [ByteRanges](repeating: ByteRanges(), count: 2 * leaves)

    func addAlive(_ lo: Int, _ hi: Int, _ range: (Int, Int), node: Int, nodeLo: Int, nodeHi: Int) {
      if hi < nodeLo || nodeHi < lo { return }
      if lo <= nodeLo && nodeHi <= hi {
        alive[node].insert(range)
        return
      }
      let mid = (nodeLo + nodeHi) / 2
      addAlive(lo, hi, range, node: 2 * node, nodeLo: nodeLo, nodeHi: mid)
      addAlive(lo, hi, range, node: 2 * node + 1, nodeLo: mid + 1, nodeHi: nodeHi)
    }
    var conflicts: [(Int, Int)] = []
    func collectStarting(_ lo: Int, _ hi: Int, node: Int, nodeLo: Int, nodeHi: Int) {
      if hi < nodeLo || nodeHi < lo || starting[node].isEmpty { return }
      if lo <= nodeLo && nodeHi <= hi {
        starting[node].append(to: &conflicts)
        return
      }
      let mid = (nodeLo + nodeHi) / 2
      collectStarting(lo, hi, node: 2 * node, nodeLo: nodeLo, nodeHi: mid)
      collectStarting(lo, hi, node: 2 * node + 1, nodeLo: mid + 1, nodeHi: nodeHi)
    }

    var total = 0
    for id in order {
      let e = entries[id]
      let lo = e.firstUse - firstStep
      let hi = e.lastUse - firstStep
      conflicts.removeAll(keepingCapacity: true)
      // Alive at the first step: the sets on the path to its leaf.
      var node = 1
      var nodeLo = 0
      var nodeHi = leaves - 1
      while true {
        alive[node].append(to: &conflicts)
        if nodeLo == nodeHi { break }
        let mid = (nodeLo + nodeHi) / 2
        if lo <= mid {
          node = 2 * node
          nodeHi = mid
        } else {
          node = 2 * node + 1
          nodeLo = mid + 1
        }
      }
      // Beginning later within the lifetime.
      if lo < hi { collectStarting(lo + 1, hi, node: 1, nodeLo: 0, nodeHi: leaves - 1) }
      conflicts.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
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
      let (end, overflow) = bestOffset.addingReportingOverflow(e.bytes)
      if overflow { throw MemoryError("an arena of \(entries.count) tensors would be larger than the address space") }
      offsets[id] = bestOffset
      total = max(total, end)
      guard e.bytes > 0 else { continue }
      addAlive(lo, hi, (bestOffset, end), node: 1, nodeLo: 0, nodeHi: leaves - 1)
      node = leaves + lo
      while node >= 1 {
        starting[node].insert((bestOffset, end))
        node /= 2
      }
    }
    return ArenaPlan(entries: entries, offsets: offsets, totalBytes: total)
  }
}

/// Disjoint, non-touching byte ranges [start, end) in ascending order: the union of the
/// ranges inserted (touching and overlapping ranges merge).
struct ByteRanges {
  private var starts: [Int] = []
  private var ends: [Int] = []

  var isEmpty: Bool { starts.isEmpty }

  mutating func insert(_ range: (Int, Int)) {
    var (start, end) = range
    // First range that ends at or after `start` (it touches or overlaps, or lies after).
    var lo = 0
    var hi = ends.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if ends[mid] < start { lo = mid + 1 } else { hi = mid }
    }
    var last = lo
    while last < starts.count && starts[last] <= end {
      start = min(start, starts[last])
      end = max(end, ends[last])
      last += 1
    }
    starts.replaceSubrange(lo..<last, with: CollectionOfOne(start))
    ends.replaceSubrange(lo..<last, with: CollectionOfOne(end))
  }

  func append(to out: inout [(Int, Int)]) {
    for i in starts.indices { out.append((starts[i], ends[i])) }
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
  public var unplannedBytes: Int {
    entries.reduce(0) { $0.addingReportingOverflow($1.bytes).overflow ? Int.max : $0 + $1.bytes }
  }
}
