import Foundation

/// The directories systemd gives a service (`StateDirectory=`, `RuntimeDirectory=`; with
/// `DynamicUser=yes` the only places it may write), which the daemon's relative paths live in:
/// outputs (`metrics`, the sink's `path` or `directory`) in `$STATE_DIRECTORY`, the source's
/// `path` in `$RUNTIME_DIRECTORY`. Without them (not under systemd), relative paths are
/// relative to the current directory as before.
public struct ServiceDirectories: Equatable, Sendable {
  /// `$STATE_DIRECTORY` (its first entry: systemd separates several with colons).
  public var state: String?
  /// `$RUNTIME_DIRECTORY` (its first entry).
  public var runtime: String?

  public init(state: String? = nil, runtime: String? = nil) {
    self.state = state
    self.runtime = runtime
  }

  public init(environment: [String: String]) {
    func first(_ name: String) -> String? {
      guard let value = environment[name], let entry = value.split(separator: ":").first, !entry.isEmpty else {
        return nil
      }
      return String(entry)
    }
    self.init(state: first("STATE_DIRECTORY"), runtime: first("RUNTIME_DIRECTORY"))
  }

  /// `path` when absolute (or `-`), else `directory/path` when `directory` is set.
  static func resolve(_ path: String?, in directory: String?) -> String? {
    guard let path, let directory, path != "-", !path.hasPrefix("/") else { return path }
    return directory.hasSuffix("/") ? directory + path : directory + "/" + path
  }

  /// `config` with its relative paths placed in these directories.
  public func resolve(_ config: DaemonConfig) -> DaemonConfig {
    var resolved = config
    resolved.metrics = Self.resolve(config.metrics, in: state)
    resolved.sink.path = Self.resolve(config.sink.path, in: state)
    resolved.sink.directory = Self.resolve(config.sink.directory, in: state)
    resolved.source.path = Self.resolve(config.source.path, in: runtime)
    return resolved
  }

  /// Whether `path` is inside the runtime directory, which is the daemon's own: a source there
  /// that does not exist yet is made a FIFO (systemd makes the directory afresh at each start).
  public func ownsSource(_ path: String) -> Bool {
    guard let runtime else { return false }
    return path.hasPrefix(runtime.hasSuffix("/") ? runtime : runtime + "/")
  }
}
