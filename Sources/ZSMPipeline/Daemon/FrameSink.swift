import Foundation
import ZSMVideo

/// Where the daemon's output frames go: one Y4M stream, numbered Y4M files of at most
/// `framesPerFile` frames (each a complete stream), or nowhere.
final class FrameSink {
  private enum Kind {
    case stream(Y4MWriter)
    case rotate(directory: String, framesPerFile: Int)
    case discard
  }

  private let kind: Kind
  private let header: Y4MHeader
  private var current: Y4MWriter?
  /// Number of the last rotated file (continues across sinks, so a reload never reuses a name).
  private(set) var sequence: Int
  private let stamp: String
  private(set) var files: [String] = []

  /// A `y4m` sink is written in place and appended to, never truncated (see
  /// `Y4MWriter.Placement.append`); opening a FIFO sink asks `stopWaiting` while it waits.
  init(
    _ config: DaemonConfig.Sink, header: Y4MHeader, lastSequence: Int = 0, stopWaiting: (() -> Bool)? = nil
  ) throws {
    self.header = header
    sequence = lastSequence
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyyMMdd-HHmmss"
    formatter.timeZone = TimeZone(identifier: "UTC")
    stamp = formatter.string(from: Date())
    switch config.type {
    case "y4m":
      kind = .stream(
        try Y4MWriter(path: config.path ?? "-", header: header, placement: .append, stopWaiting: stopWaiting))
    case "y4m-rotate":
      let directory = config.directory ?? "."
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      kind = .rotate(directory: directory, framesPerFile: config.framesPerFile ?? 1000)
    default:
      kind = .discard
    }
  }

  func write(_ frame: UnsafeRawBufferPointer) throws {
    switch kind {
    case .stream(let writer):
      try writer.writeFrame(frame)
    case .rotate(let directory, let framesPerFile):
      let writer: Y4MWriter
      if let current {
        writer = current
      } else {
        sequence += 1
        let path = "\(directory)/zsm-\(stamp)-\(String(format: "%05d", sequence)).y4m"
        writer = try Y4MWriter(path: path, header: header, placement: .append)
        current = writer
        files.append(path)
      }
      try writer.writeFrame(frame)
      if writer.framesWritten >= framesPerFile {
        try writer.close()
        current = nil
      }
    case .discard:
      break
    }
  }

  func close() throws {
    switch kind {
    case .stream(let writer): try writer.close()
    case .rotate:
      try current?.close()
      current = nil
    case .discard: break
    }
  }
}
