import Foundation
import ZSMVideo

#if canImport(Glibc)
  import Glibc
#endif

/// Which paths `zsm upscale` reads and writes natively (Y4M) and which through ffmpeg.
public enum VideoFiles {
  /// H.264 at a visually lossless quality, in the pixel format every player takes.
  public static let x264Arguments = ["-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p"]
  /// WebM cannot hold H.264: VP9 at constant quality.
  public static let vp9Arguments = ["-c:v", "libvpx-vp9", "-crf", "24", "-b:v", "0", "-pix_fmt", "yuv420p"]

  /// Output extensions (lower case) that are encoded by ffmpeg, with the default video encoder
  /// arguments of each; every other output is written as Y4M.
  public static let encodedContainers: [String: [String]] = [
    "mp4": x264Arguments, "m4v": x264Arguments, "mov": x264Arguments, "mkv": x264Arguments,
    "avi": x264Arguments, "ts": x264Arguments, "m2ts": x264Arguments, "mts": x264Arguments,
    "flv": x264Arguments, "webm": vp9Arguments,
  ]

  /// The extension of the last path component, lower case ("" when it has none).
  static func pathExtension(_ path: String) -> String {
    let name = path.split(separator: "/").last.map(String.init) ?? path
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
    return name[name.index(after: dot)...].lowercased()
  }

  /// Whether `path` is written through ffmpeg (by its extension; `-` is a Y4M stream).
  public static func isEncodedOutput(_ path: String) -> Bool {
    path != "-" && encodedContainers[pathExtension(path)] != nil
  }

  /// The default video encoder arguments for an encoded output.
  public static func defaultEncoderArguments(for path: String) -> [String] {
    encodedContainers[pathExtension(path)] ?? x264Arguments
  }

  /// Whether `path` is read through ffmpeg: a regular file that is not named `.y4m` and does
  /// not begin with Y4M's signature. Standard input, FIFOs and devices are Y4M streams (they
  /// cannot be looked at without consuming them), and a `.y4m` file always gets the Y4M
  /// reader's own errors.
  public static func inputNeedsDecoder(_ path: String) -> Bool {
    guard path != "-", pathExtension(path) != "y4m" else { return false }
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return false }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }  // the Y4M reader reports why it cannot be opened
    defer { close(fd) }
    let signature = Array("YUV4MPEG2 ".utf8)
    var bytes = [UInt8](repeating: 0, count: signature.count)
    let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
    return n != signature.count || bytes != signature
  }
}

/// What ffprobe says about a video file: enough for the progress line's ETA and for saying
/// whether audio is lost.
public struct VideoFileInfo: Sendable {
  /// Video frames, from the stream's frame count or its duration times its frame rate.
  public var frames: Int?
  public var hasAudio = false

  /// Runs ffprobe on `path`; nil when ffprobe is missing or cannot read it (the decoder then
  /// reports the problem).
  public static func probe(_ path: String) -> VideoFileInfo? {
    guard let ffprobe = FFmpegTools.find("ffprobe"),
      let (read, write) = try? closeOnExecPipe()
    else { return nil }
    let child: FFmpegProcess
    do {
      child = try FFmpegProcess(
        executable: ffprobe,
        arguments: [
          "-v", "error", "-show_entries", "stream=codec_type,nb_frames,avg_frame_rate,duration:format=duration",
          "-of", "json", FFmpegTools.fileURL(path),
        ], role: "ffprobe \(path)", stdin: nil, stdout: write)
    } catch {
      close(read)
      return nil
    }
    let output = FileHandle(fileDescriptor: read, closeOnDealloc: true).readDataToEndOfFile()
    guard child.wait() == 0, let json = try? JSONSerialization.jsonObject(with: output) as? [String: Any] else {
      return nil
    }
    return parse(json)
  }

  /// The fields of ffprobe's JSON (`-of json`).
  static func parse(_ json: [String: Any]) -> VideoFileInfo {
    var info = VideoFileInfo()
    let streams = json["streams"] as? [[String: Any]] ?? []
    info.hasAudio = streams.contains { $0["codec_type"] as? String == "audio" }
    guard let video = streams.first(where: { $0["codec_type"] as? String == "video" }) else { return info }
    if let n = (video["nb_frames"] as? String).flatMap(Int.init), n > 0 {
      info.frames = n
      return info
    }
    let format = json["format"] as? [String: Any]
    let duration = ((video["duration"] as? String) ?? (format?["duration"] as? String)).flatMap(Double.init)
    let rate = (video["avg_frame_rate"] as? String).flatMap { text -> Double? in
      let parts = text.split(separator: "/").compactMap { Double($0) }
      guard parts.count == 2, parts[1] > 0 else { return nil }
      return parts[0] / parts[1]
    }
    if let duration, let rate, duration > 0, rate > 0 { info.frames = Int((duration * rate).rounded()) }
    return info
  }
}
