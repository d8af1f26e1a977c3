#if canImport(Glibc)
  import Glibc
#endif

/// Reading `Key: value` lines of Linux's /proc files (/proc/self/status, /proc/meminfo).
public enum ProcFile {
  /// The text after `key:` on the first line of `path` that starts with it (newline dropped);
  /// nil when the file cannot be read or has no such line.
  public static func value(of key: String, in path: String) -> Substring? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    let prefix = key + ":"
    var line = [CChar](repeating: 0, count: 4096)
    while fgets(&line, Int32(line.count), file) != nil {
      let length = line.firstIndex(of: 0) ?? line.count
      let text = String(decoding: line[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
      guard text.hasPrefix(prefix) else { continue }
      return text.dropFirst(prefix.count).drop { $0 == " " || $0 == "\t" }.prefix { $0 != "\n" }
    }
    return nil
  }
}
