import Foundation
import ZSMPipeline
import ZSMVideo

/// An error for the user: what went wrong, with the file or value involved. Control bytes
/// (which may come from the input) are escaped, so no error sends escape sequences to a terminal.
struct CLIError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = terminalSafe(description) }
}

/// Writes a line to standard error (progress and summaries; results go to stdout or files).
func note(_ line: String) {
  var text = line
  text += "\n"
  FileHandleStandardError.write(text)
}

enum FileHandleStandardError {
  static func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}

/// `--model` when given, else the shipped ZSM-Lite (announced on stderr).
func resolvedModel(_ given: String?) throws -> String {
  do { return try ShippedModel.resolve(given, announce: note) } catch { throw CLIError("\(error)") }
}
