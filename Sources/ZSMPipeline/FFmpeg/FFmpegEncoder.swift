import ZSMVideo

#if canImport(Glibc)
  import Glibc
#endif

/// A video file written by an ffmpeg subprocess that encodes the Y4M stream piped into it,
/// with the audio of another file muxed in. Like `Y4MWriter`'s `.replace`, ffmpeg writes a
/// temporary file beside the output (with the output's extension, which chooses the
/// container), renamed over the output only when ffmpeg succeeded; otherwise it is removed and
/// the previous file stays as it was.
public final class FFmpegEncoder {
  /// Writes the stream into ffmpeg's input.
  public let writer: Y4MWriter
  /// The file ffmpeg writes, renamed over `output` by `finish()`.
  public let temporary: String
  public let output: String
  let child: FFmpegProcess
  private var done = false

  /// Starts ffmpeg writing `output`: the video from the Y4M stream of `header`, encoded with
  /// `encoderArguments` (ffmpeg output options, e.g. `-c:v libx264 -crf 18`), and the audio
  /// streams of `audioFrom` when given (encoded with the container's default audio codec
  /// unless `encoderArguments` say otherwise). The output must be a regular file or new.
  public init(output: String, header: Y4MHeader, encoderArguments: [String], audioFrom: String?)
    throws(PipelineError)
  {
    var info = stat()
    if stat(output, &info) == 0 && info.st_mode & S_IFMT != S_IFREG {
      throw PipelineError(
        "-o \(output): an encoded output (.\(VideoFiles.pathExtension(output))) must be a regular file; "
          + "write Y4M (.y4m, or - for standard output) to a pipe or a device")
    }
    let ffmpeg = try FFmpegTools.require("ffmpeg", for: "writing \(output) (not a Y4M file)")
    self.output = output
    let ext = VideoFiles.pathExtension(output)
    temporary = Y4MWriter.temporaryName(for: output, suffix: ".tmp.\(ext)")
    var arguments = ["-nostdin", "-hide_banner", "-v", "error", "-f", "yuv4mpegpipe", "-i", "pipe:0"]
    if let audioFrom {
      arguments += ["-i", FFmpegTools.fileURL(audioFrom), "-map", "0:v:0", "-map", "1:a?", "-map_metadata", "1"]
    } else {
      arguments += ["-map", "0:v:0"]
    }
    arguments += encoderArguments + ["-y", FFmpegTools.fileURL(temporary)]
    let (read, write) = try closeOnExecPipe()
    do {
      child = try FFmpegProcess(
        executable: ffmpeg, arguments: arguments, role: "ffmpeg encoding \(output)", stdin: read, stdout: nil)
    } catch {
      close(write)
      throw error
    }
    do {
      writer = try Y4MWriter(
        descriptor: write, path: "\(output) (ffmpeg's input)", header: header, ownsDescriptor: true)
    } catch {
      close(write)
      let status = child.wait()
      unlink(temporary)
      throw status != 0 ? child.failure(status) : PipelineError("\(error)")
    }
  }

  deinit { if !done { discard() } }

  /// The ffmpeg process that writes `temporary`.
  public var processIdentifier: Int32 { child.process.processIdentifier }

  /// Ends the stream, waits for ffmpeg and, when it succeeded, renames its file over `output`
  /// (after syncing it). A failure removes the temporary file and names ffmpeg's error.
  public func finish() throws(PipelineError) {
    done = true
    let closeError: Y4MError?
    do {
      try writer.close()
      closeError = nil
    } catch { closeError = error }
    let status = child.wait()
    if status != 0 {
      unlink(temporary)
      throw child.failure(status)
    }
    if let closeError {
      unlink(temporary)
      throw PipelineError("\(closeError)")
    }
    let fd = open(temporary, O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
      _ = fsync(fd)
      close(fd)
    }
    if rename(temporary, output) != 0 {
      let e = Errno.current
      unlink(temporary)
      throw PipelineError("\(output): cannot rename the finished file into place: \(e)")
    }
  }

  /// Abandons the output: ffmpeg is stopped and its temporary file removed.
  public func discard() {
    done = true
    writer.discard()
    child.stop()
    unlink(temporary)
  }

  /// After a failed write into ffmpeg (EPIPE: it quit): ffmpeg's own error, which says why.
  public func failureAfterWriteError() -> PipelineError? {
    done = true
    writer.discard()
    let status = child.wait()
    unlink(temporary)
    return status != 0 ? child.failure(status) : nil
  }
}
