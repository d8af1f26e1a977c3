import ZSMModel

#if canImport(Glibc)
  import Glibc
#endif

/// The daemon's counters, written in Prometheus text format for node exporter's textfile
/// collector. The file is replaced atomically (written beside it, then renamed), so a
/// scrape never sees half a file.
public struct DaemonMetrics {
  public var framesIn = 0
  public var framesOut = 0
  public var framesDropped = 0
  public var windows = 0
  public var sourceUp = false
  public var arenaBytes = 0
  /// Network seconds by stage (indexed by `NetworkStage.rawValue`).
  public var stageSeconds = [Double](repeating: 0, count: NetworkStage.allCases.count)
  /// Upper bounds (seconds) of the window latency histogram.
  public static let buckets: [Double] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250]
  public var bucketCounts = [Int](repeating: 0, count: buckets.count)
  public var windowSecondsSum = 0.0
  public var windowCount = 0

  public init() {}

  public mutating func observeWindow(seconds: Double) {
    for (i, bound) in Self.buckets.enumerated() where seconds <= bound { bucketCounts[i] += 1 }
    windowSecondsSum += seconds
    windowCount += 1
  }

  static func label(_ stage: NetworkStage) -> StaticString {
    switch stage {
    case .featureExtraction: "feature_extraction"
    case .interpolation: "interpolation"
    case .convLSTM: "convlstm"
    case .reconstructionTrunk: "reconstruction_trunk"
    case .upsampling: "upsampling"
    }
  }

  /// Bucket bounds as they are printed.
  static let bucketLabels: [StaticString] = ["0.1", "0.25", "0.5", "1", "2.5", "5", "10", "25", "50", "100", "250"]

  /// Writes the Prometheus text into `out` without allocating.
  func format(into out: inout TextBuffer) {
    func counter(_ name: StaticString, _ type: StaticString, _ help: StaticString, _ value: Int) {
      out.append("# HELP ")
      out.append(name)
      out.append(" ")
      out.append(help)
      out.append("\n# TYPE ")
      out.append(name)
      out.append(" ")
      out.append(type)
      out.append("\n")
      out.append(name)
      out.append(" ")
      out.append(value)
      out.append("\n")
    }
    counter("zsm_frames_in_total", "counter", "Input frames read.", framesIn)
    counter("zsm_frames_out_total", "counter", "Output frames written.", framesOut)
    counter("zsm_frames_dropped_total", "counter", "Input frames dropped.", framesDropped)
    counter("zsm_windows_total", "counter", "Network windows computed.", windows)
    counter("zsm_source_up", "gauge", "1 while the source delivers frames.", sourceUp ? 1 : 0)
    counter("zsm_arena_bytes", "gauge", "Bytes of the network's planned arena.", arenaBytes)
    out.append("# HELP zsm_stage_seconds_total Network time by stage.\n# TYPE zsm_stage_seconds_total counter\n")
    for stage in Self.stages {
      out.append("zsm_stage_seconds_total{stage=\"")
      out.append(Self.label(stage))
      out.append("\"} ")
      out.append(stageSeconds[stage.rawValue])
      out.append("\n")
    }
    out.append("# HELP zsm_window_seconds Wall time of a network window.\n# TYPE zsm_window_seconds histogram\n")
    for i in 0..<Self.bucketLabels.count {
      out.append("zsm_window_seconds_bucket{le=\"")
      out.append(Self.bucketLabels[i])
      out.append("\"} ")
      out.append(bucketCounts[i])
      out.append("\n")
    }
    out.append("zsm_window_seconds_bucket{le=\"+Inf\"} ")
    out.append(windowCount)
    out.append("\nzsm_window_seconds_sum ")
    out.append(windowSecondsSum)
    out.append("\nzsm_window_seconds_count ")
    out.append(windowCount)
    out.append("\n")
  }

  /// The stages, stored once (`allCases` builds an array at every use).
  static let stages = NetworkStage.allCases
}

/// The metrics file, rewritten after every window without allocating: a reused text buffer,
/// the paths prepared as C strings once.
final class MetricsFile {
  private let path: [CChar]
  private let temporary: [CChar]
  private var buffer = TextBuffer(capacity: 16384)

  init(path: String) {
    self.path = Array(path.utf8CString)
    temporary = Array((path + ".tmp.\(getpid())").utf8CString)
  }

  deinit { buffer.deallocate() }

  /// Nil when written; else why not: the temporary file could not be made, written or renamed
  /// (with the system's reason), or `path` is no longer a regular file (the rename would
  /// replace a device node, a FIFO or a link: it is never done). Allocates only on failure.
  func write(_ metrics: DaemonMetrics) -> String? {
    buffer.clear()
    metrics.format(into: &buffer)
    var info = stat()
    if lstat(path, &info) == 0 && info.st_mode & S_IFMT != S_IFREG {
      return "it is no longer a regular file (it is never renamed over anything else)"
    }
    return path.withUnsafeBufferPointer { p in
      temporary.withUnsafeBufferPointer { t in buffer.writeAtomically(temporary: t.baseAddress!, path: p.baseAddress!) }
    }
  }
}
