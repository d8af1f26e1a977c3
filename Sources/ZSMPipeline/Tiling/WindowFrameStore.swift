import ZSMRuntime
import ZSMVideo

#if canImport(Glibc)
  import Glibc
#endif

/// The encoded output frames of one window while its tiles are computed: a tile supplies a
/// rectangle of every output frame, and the frames can be written (in order) only when every
/// tile is done. Held in memory when it fits under the cap, otherwise in an unlinked temporary
/// file (a 3840x2160 input makes 199 MB output frames, 7 of them a window), which costs disk
/// and page cache but no resident memory.
final class WindowFrameStore {
  let header: Y4MHeader
  let frames: Int
  private let memory: UnsafeMutableRawPointer?
  private let memoryBytes: Int
  private let file: Int32
  /// Where the temporary file was made (for messages).
  let spillDirectory: String?
  /// Room for one tile's encoded core (of `tileCore` LR pixels), where a tile is encoded
  /// before `put` places it.
  let tileScratch: UnsafeMutableRawBufferPointer

  /// A store for `frames` frames of `header`'s size, in memory unless `spill`, for tiles of
  /// at most `tileCore` LR pixels.
  init(frames: Int, header: Y4MHeader, spill: Bool, tileCore: Int) throws(PipelineError) {
    self.header = header
    self.frames = frames
    var tile = header
    tile.width = min(header.width, 4 * tileCore)
    tile.height = min(header.height, 4 * tileCore)
    let (bytes, overflow) = frames.multipliedReportingOverflow(by: header.frameByteCount)
    if overflow { throw PipelineError("the outputs of a window of \(frames) frames are too large") }
    if spill {
      let directory = WindowFrameStore.spillDirectory()
      var template = Array("\(directory)/zsm-window-XXXXXX".utf8CString)
      let fd = mkstemp(&template)
      guard fd >= 0 else {
        throw PipelineError(
          "cannot make a temporary file in \(directory) for the outputs of a tiled window: "
            + String(cString: strerror(errno)) + " (set TMPDIR to a directory with "
            + "\(MemoryLimit.formatted(bytes)) free)")
      }
      unlink(template)
      file = fd
      memory = nil
      memoryBytes = 0
      spillDirectory = directory
    } else {
      do { memory = try MemoryLimit.allocate(byteCount: bytes, for: "the outputs of a tiled window") } catch {
        throw PipelineError(error.description)
      }
      memoryBytes = bytes
      file = -1
      spillDirectory = nil
    }
    // Last, so that no error above leaves it allocated.
    tileScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: tile.frameByteCount, alignment: 64)
  }

  deinit {
    tileScratch.deallocate()
    if let memory { MemoryLimit.deallocate(memory, byteCount: memoryBytes) }
    if file >= 0 { close(file) }
  }

  /// $TMPDIR, or /var/tmp (on disk where /tmp may be memory).
  static func spillDirectory() -> String {
    if let t = getenv("TMPDIR"), t.pointee != 0 { return String(cString: t) }
    return "/var/tmp"
  }

  /// Copies `tile`, one encoded frame of `tileHeader`'s size, into frame `index` with its
  /// top-left corner at output pixel (`x`, `y`) (on the chroma grid).
  func put(_ tile: UnsafeRawBufferPointer, tileHeader: Y4MHeader, frame index: Int, x: Int, y: Int)
    throws(PipelineError)
  {
    let base = index * header.frameByteCount
    var source = 0
    func rows(width: Int, height: Int, planeOffset: Int, rowBytes: Int, x: Int, y: Int) throws(PipelineError) {
      for r in 0..<height {
        try write(
          UnsafeRawBufferPointer(rebasing: tile[(source + r * width)..<(source + r * width + width)]),
          at: base + planeOffset + (y + r) * rowBytes + x)
      }
      source += width * height
    }
    try rows(width: tileHeader.width, height: tileHeader.height, planeOffset: 0, rowBytes: header.width, x: x, y: y)
    guard let s = header.colorSpace.chromaShift else { return }
    let lumaBytes = header.width * header.height
    let chromaBytes = header.chromaWidth * header.chromaHeight
    for plane in 0..<2 {
      try rows(
        width: tileHeader.chromaWidth, height: tileHeader.chromaHeight, planeOffset: lumaBytes + plane * chromaBytes,
        rowBytes: header.chromaWidth, x: x >> s.x, y: y >> s.y)
    }
  }

  /// Frame `index`: in place when in memory, else read into `buffer`.
  func frame(_ index: Int, using buffer: UnsafeMutableRawBufferPointer) throws(PipelineError) -> UnsafeRawBufferPointer
  {
    let bytes = header.frameByteCount
    if let memory { return UnsafeRawBufferPointer(start: memory + index * bytes, count: bytes) }
    var done = 0
    while done < bytes {
      let n = pread(file, buffer.baseAddress! + done, bytes - done, off_t(index * bytes + done))
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        throw PipelineError("reading back a tiled window's output: " + String(cString: strerror(errno)))
      }
      done += n
    }
    return UnsafeRawBufferPointer(buffer)
  }

  private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(PipelineError) {
    if let memory {
      (memory + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
      return
    }
    var done = 0
    while done < bytes.count {
      let n = pwrite(file, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        throw PipelineError(
          "writing a tiled window's output to a temporary file in \(spillDirectory ?? "?"): "
            + String(cString: strerror(errno)))
      }
      done += n
    }
  }
}
