import Glibc
import ZSMVideo

/// libFuzzer target: a Y4M stream through `Y4MReader` (the header, every FRAME line and the
/// payloads) as a pipe delivers it. The first input byte sets how many bytes each read returns
/// (1...256), so lines and payloads are split at every position across reads; the rest is the
/// stream. Odd first bytes also set `stopWaiting`, which makes the reader poll before a frame.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzY4M(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  guard size > 0 else { return 0 }
  let stream = MemoryStream(UnsafeBufferPointer(start: data + 1, count: size - 1), chunk: Int(data[0]) + 1)
  do throws(Y4MError) {
    let reader = try Y4MReader(descriptor: 3, path: "fuzz.y4m", sys: Sys(stream), ownsDescriptor: false)
    if data[0] & 1 == 1 { reader.stopWaiting = { false } }
    // A header may announce frames up to 4096x4096 (48 MiB in 4:4:4); reading one is the
    // reader's business, but allocating it on every input would slow the search for nothing.
    guard reader.frameByteCount <= 1 << 20 else { return 0 }
    let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: reader.frameByteCount, alignment: 64)
    defer { frame.deallocate() }
    while try reader.readFrame(into: frame) != nil {}
  } catch {
    _ = error.description
  }
  return 0
}

/// A read-only descriptor over the fuzz input that returns at most `chunk` bytes per read.
final class MemoryStream: SyscallBackend {
  let bytes: UnsafeBufferPointer<UInt8>
  let chunk: Int
  var offset = 0

  init(_ bytes: UnsafeBufferPointer<UInt8>, chunk: Int) {
    self.bytes = bytes
    self.chunk = chunk
  }

  func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, count: Int) -> Result<Int, Errno> {
    let n = min(count, chunk, bytes.count - offset)
    if n > 0 { buffer.copyMemory(from: bytes.baseAddress! + offset, byteCount: n) }
    offset += n
    return .success(n)
  }

  func poll(_ fds: UnsafeMutablePointer<pollfd>, count: Int, timeoutMilliseconds: Int32) -> Result<Int32, Errno> {
    fds.pointee.revents = fds.pointee.events
    return .success(1)
  }

  // Nothing else is a read-only stream's business.
  func open(_ path: String, flags: Int32, mode: UInt32, kind: FileKind) -> Result<Int32, Errno> {
    .failure(Errno(ENOSYS))
  }
  func close(_ fd: Int32) -> Result<Void, Errno> { .success(()) }
  func ioctl(_ fd: Int32, _ request: UInt, _ arg: UnsafeMutableRawPointer) -> Result<Int32, Errno> {
    .failure(Errno(ENOTTY))
  }
  func mmap(length: Int, protection: Int32, flags: Int32, fd: Int32, offset: Int64) -> Result<
    UnsafeMutableRawPointer, Errno
  > { .failure(Errno(ENODEV)) }
  func munmap(_ address: UnsafeMutableRawPointer, length: Int) -> Result<Void, Errno> { .failure(Errno(EINVAL)) }
  func write(_ fd: Int32, _ buffer: UnsafeRawPointer, count: Int) -> Result<Int, Errno> { .failure(Errno(EBADF)) }
  func truncate(_ fd: Int32, length: Int64) -> Result<Void, Errno> { .failure(Errno(EINVAL)) }
  func currentOffset(_ fd: Int32) -> Int64? { nil }
  func directoryEntries(_ path: String) -> [String] { [] }
  func readLink(_ path: String) -> String? { nil }
  func groupName(ofFile path: String) -> String? { nil }
  func monotonicNanoseconds() -> Int64 { 0 }
  func sleep(nanoseconds: Int64) {}
}
