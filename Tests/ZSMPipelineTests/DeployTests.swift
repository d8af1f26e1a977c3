import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `Deploy/`: the job-array part script run for every index as Slurm and as Kubernetes would
/// run it (their index variables set, the engines absent), the parts joined by
/// `zsm-join-parts.sh`, against one whole run, byte for byte.
final class DeployTests: XCTestCase {
  var directory: URL!
  let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  var model: String { root.appendingPathComponent("Tests/Fixtures/tiny_16x12_n2/model.pth").path }
  var zsm: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zsm").path
  }
  var partScript: String { root.appendingPathComponent("Deploy/zsm-upscale-part.sh").path }
  var joinScript: String { root.appendingPathComponent("Deploy/zsm-join-parts.sh").path }
  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  override func setUpWithError() throws {
    guard FFmpegTestTools.available else { throw XCTSkip("ffmpeg/ffprobe are not installed (.ci/run installs them)") }
    directory = URL(fileURLWithPath: "/tmp/zsm-deploy-\(getpid())-\(Int.random(in: 0..<1_000_000))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    if let directory { try? FileManager.default.removeItem(at: directory) }
  }

  /// The environment every task of the array gets.
  func taskEnvironment(input: String, frames: Int) -> [String: String] {
    [
      "ZSM": zsm, "ZSM_MODEL": model, "ZSM_INPUT": input, "ZSM_FRAMES": "\(frames)", "ZSM_PARTS_DIR": path("parts"),
      "ZSM_THREADS": "1", "ZSM_ARGS": "--window 3",
    ]
  }

  /// One whole run of `input` to Y4M, as the reference.
  func wholeRun(_ input: String) throws -> Data {
    let r = try runProcess(
      zsm, ["upscale", "--model", model, "-i", input, "-o", path("whole.y4m"), "--threads", "1", "--window", "3"])
    XCTAssertEqual(r.status, 0, r.stderr)
    return try Data(contentsOf: URL(fileURLWithPath: path("whole.y4m")))
  }

  func join(_ output: String, parts: Int?, environment: [String: String] = [:]) throws -> ProcessResult {
    try runProcess(
      "/bin/bash", [joinScript, path("parts"), output] + (parts.map { ["\($0)"] } ?? []), environment: environment)
  }

  func testSlurmArrayPartsJoinToTheWholeRun() throws {
    let clip = path("clip.y4m")
    try FFmpegTestTools.run(
      ["-f", "lavfi", "-i", "testsrc=size=20x12:rate=10", "-frames", "11", "-pix_fmt", "yuv420p", clip])
    let whole = try wholeRun(clip)
    // sbatch --array=2-5: four tasks, ids 2...5.
    for id in 2...5 {
      var environment = taskEnvironment(input: clip, frames: 11)
      environment["SLURM_ARRAY_TASK_ID"] = "\(id)"
      environment["SLURM_ARRAY_TASK_MIN"] = "2"
      environment["SLURM_ARRAY_TASK_COUNT"] = "4"
      let r = try runProcess("/bin/bash", [partScript], environment: environment)
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    // 11 frames in 4 parts: 3, 3, 3 and the rest.
    let names = try FileManager.default.contentsOfDirectory(atPath: path("parts")).sorted()
    XCTAssertEqual(names, ["part-00000.y4m", "part-00001.y4m", "part-00002.y4m", "part-00003.y4m"])
    let r = try join(path("joined.y4m"), parts: 4)
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("joined.y4m"))), whole, "byte for byte")
    // A missing part is an error, not a shorter clip: by the count, or by the gap.
    try FileManager.default.removeItem(atPath: path("parts/part-00002.y4m"))
    for (count, expected) in [(4, "4 parts expected"), (nil, "a part is missing")] as [(Int?, String)] {
      let missing = try join(path("short.y4m"), parts: count)
      XCTAssertNotEqual(missing.status, 0)
      XCTAssertTrue(missing.stderr.contains(expected), missing.stderr)
      XCTAssertFalse(FileManager.default.fileExists(atPath: path("short.y4m")))
    }
  }

  func testKubernetesIndexedJobPartsJoinToTheWholeRun() throws {
    // The manifest runs this script, with ZSM_PARTS equal to its completions.
    let manifest = try String(
      contentsOfFile: root.appendingPathComponent("Deploy/kubernetes/zsm-upscale-job.yaml").path, encoding: .utf8)
    XCTAssertTrue(manifest.contains("completionMode: Indexed"))
    XCTAssertTrue(manifest.contains("command: [\"bash\", \"/deploy/zsm-upscale-part.sh\"]"))
    let completions = manifest.firstMatch(of: /completions: (\d+)/)?.1
    let parts = manifest.firstMatch(of: /- name: ZSM_PARTS\s+value: "(\d+)"/)?.1
    XCTAssertNotNil(completions)
    XCTAssertEqual(completions, parts, "ZSM_PARTS must equal the Job's completions")

    // An mp4 with audio: each pod decodes it with ffmpeg; the joined parts are the whole run's
    // Y4M, and joined into an mp4 they keep the audio.
    let clip = path("clip.mp4")
    try FFmpegTestTools.makeClip(clip, frames: 9, size: "16x12", rate: 10, audio: true)
    let whole = try wholeRun(clip)
    for index in 0..<3 {
      var environment = taskEnvironment(input: clip, frames: 9)
      environment["JOB_COMPLETION_INDEX"] = "\(index)"
      environment["ZSM_PARTS"] = "3"
      let r = try runProcess("/bin/bash", [partScript], environment: environment)
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    var r = try join(path("joined.y4m"), parts: 3)
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("joined.y4m"))), whole, "byte for byte")
    r = try join(path("joined.mp4"), parts: 3, environment: ["ZSM_AUDIO_FROM": clip])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(try FFmpegTestTools.probe(path("joined.mp4"), stream: "v:0")["nb_read_frames"], "17")
    XCTAssertEqual(try FFmpegTestTools.streamCount(path("joined.mp4"), type: "a"), 1)
  }

  func testPartScriptErrors() throws {
    let base = taskEnvironment(input: path("clip.y4m"), frames: 4)
    for (extra, expected) in [
      ([:], "no task index"),
      (["JOB_COMPLETION_INDEX": "3", "ZSM_PARTS": "3"], "part index '3' is not in 0...2"),
      (["JOB_COMPLETION_INDEX": "0", "ZSM_PARTS": "5"], "5 parts for 4 frames"),
      (["SLURM_ARRAY_TASK_ID": "0"], "SLURM_ARRAY_TASK_COUNT is not set"),
    ] as [([String: String], String)] {
      // The test runner's own environment may hold neither variable; make sure of it.
      var environment = base.merging(extra) { $1 }
      for key in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] where extra[key] == nil { environment[key] = "" }
      let r = try runProcess("/bin/bash", [partScript], environment: environment)
      XCTAssertNotEqual(r.status, 0)
      XCTAssertTrue(r.stderr.contains(expected), "expected '\(expected)' in: \(r.stderr)")
    }
  }
}
