import Foundation

/// The model the project trains and ships (`Models/zsm-lite.pth`, see Models/README.md), used by
/// every command when no `--model` is given, and the data folder it lives in.
///
/// The data folder (holding `Models/`, `Boards/`, `Calibration/`) is found without depending on
/// the current directory: `$ZSM_DATA_DIR` when set; else `<prefix>/share/zsm` for an installed
/// `<prefix>/bin/zsm`; else the nearest folder above the executable that holds the model (a
/// build inside the repository: `.build/release/zsm`); else the current directory.
public enum ShippedModel {
  /// The model's path inside the data folder.
  public static let relativePath = "Models/zsm-lite.pth"

  /// The data folder, or nil when none holds the shipped model.
  public static func dataDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
    let files = FileManager.default
    func holdsModel(_ dir: String) -> Bool { files.fileExists(atPath: dir + "/" + relativePath) }
    if let dir = environment["ZSM_DATA_DIR"], !dir.isEmpty { return dir }
    if let exe = executablePath() {
      var dir = (exe as NSString).deletingLastPathComponent
      let installed = ((dir as NSString).deletingLastPathComponent as NSString).appendingPathComponent("share/zsm")
      if holdsModel(installed) { return installed }
      for _ in 0..<6 {
        if holdsModel(dir) { return dir }
        let parent = (dir as NSString).deletingLastPathComponent
        if parent == dir { break }
        dir = parent
      }
    }
    let cwd = files.currentDirectoryPath
    return holdsModel(cwd) ? cwd : nil
  }

  /// The shipped model's path.
  /// - Throws: `PipelineError` saying where it was looked for.
  public static func path(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
    if let dir = dataDirectory(environment: environment) {
      let path = dir + "/" + relativePath
      guard FileManager.default.fileExists(atPath: path) else {
        throw PipelineError(
          "no model given and the shipped model \(path) does not exist (ZSM_DATA_DIR=\(dir)); pass --model PATH")
      }
      return path
    }
    throw PipelineError(
      "no model given and the shipped model \(relativePath) was not found beside this zsm, in share/zsm, "
        + "or in the current directory; pass --model PATH or set ZSM_DATA_DIR to the folder that holds Models/")
  }

  /// `given` when set; else the shipped model, announced through `announce`.
  public static func resolve(_ given: String?, announce: (String) -> Void) throws -> String {
    if let given { return given }
    let path = try path()
    announce("model: the shipped ZSM-Lite, \(path) (--model PATH for another)")
    return path
  }

  /// This process's executable (from /proc/self/exe), symbolic links resolved.
  static func executablePath() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
