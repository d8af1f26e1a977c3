import Foundation
import XCTest

/// `zsm upscale` end to end between two ffmpeg processes:
/// ffmpeg testsrc | zsm upscale -i - -o - | ffmpeg (counts and checks the frames).
final class UpscaleCommandTests: XCTestCase {
  func which(_ tool: String) -> String? {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"]
    where FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") {
      return "\(dir)/\(tool)"
    }
    return nil
  }

  func testFFmpegPipeInAndOut() throws {
    guard let ffmpeg = which("ffmpeg"), let ffprobe = which("ffprobe") else {
      throw XCTSkip("ffmpeg is not installed (.ci/run installs it)")
    }
    let zsm = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zsm")
    let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/tiny_16x12_n2/model.pth").path
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("zsm-pipe-\(getpid()).mkv").path
    defer { try? FileManager.default.removeItem(atPath: out) }
    // 7 frames of 30x22 (not a multiple of 4) at 10 fps -> 13 frames of 120x88 at 20 fps.
    let script = """
      set -o pipefail
      '\(ffmpeg)' -v error -f lavfi -i testsrc=size=30x22:rate=10 -frames 7 -pix_fmt yuv420p -f yuv4mpegpipe - \
        | '\(zsm.path)' upscale --model '\(model)' -i - -o - --window 3 --threads 2 \
        | '\(ffmpeg)' -v error -y -f yuv4mpegpipe -i - -c:v ffv1 '\(out)'
      """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", script]
    try process.run()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0)
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: ffprobe)
    probe.arguments = [
      "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
      "stream=width,height,nb_read_frames,r_frame_rate", "-of", "csv=p=0", out,
    ]
    let pipe = Pipe()
    probe.standardOutput = pipe
    try probe.run()
    probe.waitUntilExit()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), "120,88,20/1,13")
  }
}
