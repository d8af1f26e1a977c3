import Foundation

/// Paths of the committed test data, found relative to this source file.
enum TestPaths {
  /// `Tests/` of the package.
  static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent()

  /// A file of a reference fixture, e.g. `fixture("tiny_16x12_n2", "model.pth")`.
  static func fixture(_ directory: String, _ file: String) -> String {
    testsDirectory.appendingPathComponent("Fixtures/\(directory)/\(file)").path
  }

  /// A file under `Tests/ZSMModelTests/Data/`.
  static func data(_ file: String) -> String {
    testsDirectory.appendingPathComponent("ZSMModelTests/Data/\(file)").path
  }

  /// A fresh path in the temporary directory.
  static func temporary(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("zsm-\(UUID().uuidString)-\(name)").path
  }
}
