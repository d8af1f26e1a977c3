import ZSMVideo

#if canImport(Glibc)
  import Glibc
#endif

/// A video file that is not Y4M, decoded by an ffmpeg subprocess into a Y4M pipe: its first
/// video stream, 8-bit 4:2:0, progressive (interlaced frames deinterlaced), at a constant frame rate (ffmpeg's default for Y4M output
/// duplicates or drops frames of a variable-rate file to the stream's rate).
public final class FFmpegDecoder {
  /// Reads the decoded stream.
  public let reader: Y4MReader
  let child: FFmpegProcess
  let input: String

  /// Starts ffmpeg on `input` and reads the Y4M header it writes. A file ffmpeg cannot read
  /// is an error with what ffmpeg said.
  public init(input: String) throws(PipelineError) {
    let ffmpeg = try FFmpegTools.require("ffmpeg", for: "reading \(input) (not a Y4M file)")
    let (read, write) = try closeOnExecPipe()
    do {
      child = try FFmpegProcess(
        executable: ffmpeg,
        arguments: [
          "-nostdin", "-hide_banner", "-v", "error", "-i", FFmpegTools.fileURL(input), "-map", "0:v:0",
          // Interlaced frames (broadcast, camcorder files) are deinterlaced, one output frame
          // per input frame; progressive frames pass unchanged. zsm refuses woven fields.
          "-vf", "bwdif=mode=send_frame:deint=interlaced",
          "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "pipe:1",
        ], role: "ffmpeg decoding \(input)", stdin: nil, stdout: write)
    } catch {
      close(read)
      throw error
    }
    self.input = input
    do {
      reader = try Y4MReader(descriptor: read, path: "\(input) (decoded by ffmpeg)", ownsDescriptor: true)
    } catch {
      close(read)
      let status = child.wait()
      throw status != 0 ? child.failure(status) : PipelineError("\(error)")
    }
  }

  /// After the clip: whether ffmpeg decoded the whole file. `readToEnd` false (the run stopped
  /// early, at the end of `--frames`) ends ffmpeg, whose status then does not matter.
  public func finish(readToEnd: Bool) throws(PipelineError) {
    guard readToEnd else {
      cancel()
      return
    }
    reader.close()
    let status = child.wait()
    if status != 0 { throw child.failure(status) }
  }

  /// Stops ffmpeg (nothing more will be read).
  public func cancel() {
    reader.close()
    child.stop()
  }

  /// Why a run that failed reading the pipe failed: ffmpeg's own error when it failed (a
  /// damaged file), else nil (the pipe's content was the problem).
  public func failureAfterReadError() -> PipelineError? {
    reader.close()
    child.stop()
    let status = child.wait()
    return status != 0 && status != 128 + SIGTERM ? child.failure(status) : nil
  }
}
