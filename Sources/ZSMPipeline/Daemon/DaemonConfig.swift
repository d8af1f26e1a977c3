import Foundation
import ZSMRuntime

/// The daemon's configuration file (JSON), validated on load with errors that name the key.
///
///     {
///       "model": "/var/lib/zsm/xiang2020zooming.pth",
///       "threads": 4,
///       "precision": "fp16",
///       "window": 4,
///       "source": { "type": "y4m", "path": "/run/zsm/input.y4m" },
///       "sink": { "type": "y4m-rotate", "directory": "/var/lib/zsm/out", "framesPerFile": 1000 },
///       "metrics": "/var/lib/prometheus/node-exporter/zsm.prom"
///     }
///
/// Sources: `y4m` (a file, a FIFO, or `-` for standard input; `"finite": true|false` says
/// whether its end is a clean exit or a failure, default: finite when a regular file; with
/// `"reopen": true` a stream that ends is opened again instead: a FIFO's next writer is waited
/// for), `camera` (V4L2; frames pass through the live pipeline: newest-frames windows, output
/// paced at the output rate). Relative paths are placed in systemd's `$STATE_DIRECTORY`
/// (outputs) and `$RUNTIME_DIRECTORY` (the source) when set (`ServiceDirectories`). Sinks:
/// `y4m` (one file or `-`), `y4m-rotate` (numbered files of at most `framesPerFile` frames in
/// `directory`), `display` (KMS, with a camera source), `null` (discard; for measuring). `metrics` is optional (Prometheus text, for node
/// exporter's textfile collector, rewritten atomically after every window). `precision` is
/// `fp32` (default), `fp16` or `int8`; int8 reads `calibration` (default
/// `Calibration/<model sha256>-int8.json`, made by `zsm calibrate`).
public struct DaemonConfig: Codable, Equatable, Sendable {
  public struct Source: Codable, Equatable, Sendable {
    public var type: String
    /// `y4m`: the file, FIFO or `-`.
    public var path: String?
    /// `camera`: the V4L2 device (default /dev/video0), frame size "WxH" (default 320x180),
    /// fourcc (default YUYV), frame rate, and the KxK averaging into the network's input.
    public var device: String?
    public var size: String?
    public var format: String?
    public var fps: Int?
    public var downscale: Int?
    /// `y4m`: whether the stream is expected to end. The end of a source that is not finite is a
    /// failure (exit status 1, so systemd's `Restart=on-failure` restarts the daemon); the end
    /// of a finite one is a clean exit 0. Default: finite when the path is a regular file, not
    /// for a FIFO, a device or standard input that is not a regular file.
    public var finite: Bool?
    /// `y4m`: when the stream ends, open the path again and go on (a FIFO: wait for its next
    /// writer; a file: read it again) instead of exiting. The sink and the counters go on.
    public var reopen: Bool?
  }

  public struct Sink: Codable, Equatable, Sendable {
    public var type: String
    public var path: String?
    public var directory: String?
    public var framesPerFile: Int?
    /// `display`: DRM card, connector and mode (the first connected display, preferred mode).
    public var card: String?
    public var connector: String?
    public var mode: String?
  }

  /// The checkpoint; the shipped ZSM-Lite (`ShippedModel`) when absent.
  public var model: String?
  public var threads: Int?
  public var precision: String?
  public var calibration: String?
  public var window: Int?
  public var source: Source
  public var sink: Sink
  public var metrics: String?
  public var slowmo: Bool?

  /// Reads and validates the file at `path`, with its relative paths placed in `directories`
  /// (systemd's state and runtime directories; see `ServiceDirectories`).
  public static func load(path: String, directories: ServiceDirectories = ServiceDirectories()) throws
    -> DaemonConfig
  {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw PipelineError("\(path): cannot read the configuration: \(error.localizedDescription)")
    }
    return try decode(data, path: path, directories: directories)
  }

  /// Parses and validates configuration JSON held in memory; `path` names it in errors.
  public static func decode(
    _ data: Data, path: String, directories: ServiceDirectories = ServiceDirectories()
  ) throws -> DaemonConfig {
    try checkSyntaxAndKeys(Array(data), path: path)
    var config: DaemonConfig
    do { config = try JSONDecoder().decode(DaemonConfig.self, from: data) } catch let DecodingError.keyNotFound(key, _)
    {
      throw PipelineError("\(path): missing key \"\(key.stringValue)\"")
    } catch let DecodingError.typeMismatch(_, context) {
      throw PipelineError("\(path): wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))")
    } catch {
      throw PipelineError("\(path): not a valid configuration: \(error)")
    }
    config = directories.resolve(config)
    try config.validate(path: path)
    return config
  }

  static let topKeys = [
    "model", "threads", "precision", "calibration", "window", "source", "sink", "metrics", "slowmo",
  ]
  static let sourceKeys = ["type", "path", "device", "size", "format", "fps", "downscale", "finite", "reopen"]
  static let sinkKeys = ["type", "path", "directory", "framesPerFile", "card", "connector", "mode"]

  /// Strict JSON (RFC 8259: no trailing comma, no byte order mark, no duplicate key) with only
  /// the known keys; an unknown key is named, with the known key it is closest to.
  static func checkSyntaxAndKeys(_ bytes: [UInt8], path: String) throws {
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
      throw PipelineError("\(path): starts with a byte order mark (save it as UTF-8 without BOM)")
    }
    let root: JSONValue
    do { root = try MiniJSON.parse(bytes) } catch {
      throw PipelineError("\(path): not valid JSON: \(error.message)")
    }
    guard case .object(let top) = root else { throw PipelineError("\(path): not a JSON object") }
    try checkKeys(top, known: topKeys, at: "", path: path)
    if case .object(let source)? = top["source"] { try checkKeys(source, known: sourceKeys, at: "source.", path: path) }
    if case .object(let sink)? = top["sink"] { try checkKeys(sink, known: sinkKeys, at: "sink.", path: path) }
  }

  static func checkKeys(_ object: [String: JSONValue], known: [String], at prefix: String, path: String) throws {
    for key in object.keys.sorted() where !known.contains(key) {
      let best = known.min {
        editDistance(key.lowercased(), $0.lowercased()) < editDistance(key.lowercased(), $1.lowercased())
      }
      var message = "\(path): unknown key \"\(prefix)\(key)\""
      if let best, editDistance(key.lowercased(), best.lowercased()) <= 2 { message += " (did you mean \"\(best)\"?)" }
      throw PipelineError(message + "; known keys: " + known.joined(separator: ", "))
    }
  }

  static func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(1, a.count) where !a.isEmpty {
      var previous = row[0]
      row[0] = i
      for j in 1...max(1, b.count) where !b.isEmpty {
        let saved = row[j]
        row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
        previous = saved
      }
    }
    return a.isEmpty ? b.count : row[b.count]
  }

  public func validate(path: String) throws {
    if let threads, !(1...Limits.maximumThreads).contains(threads) {
      throw PipelineError("\(path): threads must be 1...\(Limits.maximumThreads)")
    }
    if let window, !(2...Limits.maximumWindow).contains(window) {
      throw PipelineError("\(path): window must be 2...\(Limits.maximumWindow)")
    }
    for (key, value) in [
      ("model", model), ("calibration", calibration), ("source.path", source.path), ("source.device", source.device),
      ("sink.path", sink.path), ("sink.directory", sink.directory), ("sink.card", sink.card), ("metrics", metrics),
    ] {
      if let value, value.utf8.contains(0) { throw PipelineError("\(path): \(key) contains a NUL byte") }
    }
    if let metrics { try Self.checkMetricsPath(metrics, sink: sink, source: source, path: path) }
    if let precision, Precision(rawValue: precision) == nil {
      throw PipelineError("\(path): precision must be fp32, fp16 or int8, got \"\(precision)\"")
    }
    switch source.type {
    case "y4m":
      guard source.path != nil else { throw PipelineError("\(path): source of type y4m needs \"path\"") }
      if source.reopen == true && source.path == "-" {
        throw PipelineError("\(path): source.reopen needs a file or FIFO path (standard input cannot be reopened)")
      }
    case "camera":
      if let size = source.size, cameraSize(size) == nil {
        throw PipelineError("\(path): source size must be \"WxH\", got \"\(size)\"")
      }
      if let k = source.downscale, k < 1 { throw PipelineError("\(path): downscale must be at least 1") }
      if source.finite != nil {
        throw PipelineError(
          "\(path): \"finite\" is for y4m sources; a camera source never ends (a camera that goes away is reopened)")
      }
    default:
      throw PipelineError("\(path): unknown source type \"\(source.type)\" (supported: y4m, camera)")
    }
    if sink.type == "display" && source.type != "camera" {
      throw PipelineError("\(path): the display sink needs a camera source (it shows frames at the camera's rate)")
    }
    switch sink.type {
    case "y4m":
      guard sink.path != nil else { throw PipelineError("\(path): sink of type y4m needs \"path\"") }
    case "y4m-rotate":
      guard sink.directory != nil else { throw PipelineError("\(path): sink of type y4m-rotate needs \"directory\"") }
      if let n = sink.framesPerFile, n < 1 { throw PipelineError("\(path): framesPerFile must be at least 1") }
    case "null", "display": break
    default:
      throw PipelineError("\(path): unknown sink type \"\(sink.type)\" (supported: y4m, y4m-rotate, display, null)")
    }
  }

  /// The metrics file is replaced by rename: it must not name the sink, the source or
  /// anything but a regular file (a device node, a FIFO, a directory, a link).
  static func checkMetricsPath(_ metrics: String, sink: Sink, source: Source, path: String) throws {
    var m = stat()
    let exists = lstat(metrics, &m) == 0
    for (name, other) in [("sink", sink.type == "y4m" ? sink.path : nil), ("source", source.path)] {
      guard let other else { continue }
      var o = stat()
      let same =
        other == metrics || (exists && stat(other, &o) == 0 && o.st_dev == m.st_dev && o.st_ino == m.st_ino)
      if same { throw PipelineError("\(path): metrics \"\(metrics)\" is the \(name); it must be a file of its own") }
    }
    if exists && m.st_mode & S_IFMT != S_IFREG {
      throw PipelineError(
        "\(path): metrics \"\(metrics)\" is not a regular file (it is replaced by rename, which would replace"
          + " a device node, a FIFO or a link)")
    }
  }

  /// "WxH" -> (W, H).
  func cameraSize(_ text: String) -> (Int, Int)? {
    let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
    return parts.count == 2 && parts[0] > 0 && parts[1] > 0 ? (parts[0], parts[1]) : nil
  }
}
