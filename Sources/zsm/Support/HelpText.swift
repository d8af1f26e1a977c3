/// A command's discussion as ArgumentParser should get it: each paragraph on one line, so that
/// it wraps the words to the reader's terminal (80 columns in a pipe) instead of breaking the
/// source's lines a second time. In the source, a paragraph is written over several lines;
/// a blank line ends it, and a line that starts with a space (an example command, a JSON
/// snippet) is kept as it is, on its own line.
func helpText(_ text: String) -> String {
  var lines: [String] = []
  var paragraph: [Substring] = []
  func endParagraph() {
    if !paragraph.isEmpty { lines.append(paragraph.joined(separator: " ")) }
    paragraph = []
  }
  for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
    if line.isEmpty || line.first == " " {
      endParagraph()
      lines.append(String(line))
    } else {
      paragraph.append(line)
    }
  }
  endParagraph()
  return lines.joined(separator: "\n")
}
