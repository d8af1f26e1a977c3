import CV4L2

/// Hints for the two errors users can fix themselves.
enum DeviceHints {
  /// "held by pid 123 (ffmpeg)" for EBUSY: walks /proc/<pid>/fd looking for links to `path`.
  static func holders(of path: String, _ sys: Sys) -> String {
    var found: [String] = []
    let me = String(getpid())
    for pid in sys.backend.directoryEntries("/proc") where pid.allSatisfy(\.isNumber) && pid != me {
      for fd in sys.backend.directoryEntries("/proc/\(pid)/fd")
      where sys.backend.readLink("/proc/\(pid)/fd/\(fd)") == path {
        var name = "?"
        if let exe = sys.backend.readLink("/proc/\(pid)/exe") { name = String(exe.split(separator: "/").last ?? "?") }
        found.append("pid \(pid) (\(name))")
        break
      }
    }
    if found.isEmpty {
      return "another process owns its buffers or holds it as DRM master (find it with: fuser -v \(path))"
    }
    return "held by " + found.joined(separator: ", ") + " (stop it, or use another device)"
  }

  /// "join group 'video'" for EACCES.
  static func permission(for path: String, _ sys: Sys) -> String {
    let group = sys.backend.groupName(ofFile: path) ?? "video"
    return
      "the device belongs to group '\(group)': add your user to it (sudo usermod -aG \(group) $USER) and log in again"
  }
}
