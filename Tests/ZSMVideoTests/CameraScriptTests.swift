import CV4L2
import XCTest
import ZSMKernels
import ZSMVideo

/// Drives V4L2Camera through ScriptedSyscalls: the calls it must make, in order, and the
/// device's recorded replies (filled structs, EINTR, EAGAIN, ENODEV, EBUSY, EACCES).
final class CameraScriptTests: XCTestCase {
  let w = 4
  let h = 2
  let bufferCount = 3

  /// The replies of a healthy device for `V4L2Camera.start()` (fd 3), checking what it asks for.
  func scriptStart(_ s: ScriptedSyscalls, fd: Int = 3) {
    s.expectCaptureStart(
      fd: fd, width: w, height: h, buffers: bufferCount,
      requested: { f in
        // The camera sees what was asked for.
        XCTAssertEqual(f.fmt.pix.pixelformat, FourCC.yuyv.rawValue)
        XCTAssertEqual(f.fmt.pix.width, 4)
      },
      queried: { i, b in XCTAssertEqual(Int(b.index), i) })
  }

  func scriptFrame(_ s: ScriptedSyscalls, index: Int, sequence: UInt32) {
    s.expect(
      "poll",
      .fill { p in
        p.assumingMemoryBound(to: pollfd.self).pointee.revents = Int16(POLLIN)
        return 1
      })
    s.expect(
      "ioctl", request: ZSM_VIDIOC_DQBUF,
      .fill { p in
        let b = p.assumingMemoryBound(to: v4l2_buffer.self)
        b.pointee.index = UInt32(index)
        b.pointee.sequence = sequence
        b.pointee.bytesused = 16
        b.pointee.timestamp = timeval(tv_sec: 12, tv_usec: 345)
        return 0
      })
  }

  func scriptStop(_ s: ScriptedSyscalls) {
    s.expect("ioctl", request: ZSM_VIDIOC_STREAMOFF, .value(0))
    for _ in 0..<bufferCount { s.expect("munmap", .value(0)) }
    s.expect("close", .value(0))
  }

  func config() -> CameraConfiguration {
    CameraConfiguration(
      path: "/dev/video0", fourcc: .yuyv, width: w, height: h, bufferCount: bufferCount,
      frameTimeoutMilliseconds: 2000, reconnectInitialMilliseconds: 100, reconnectMaximumMilliseconds: 400)
  }

  func frame(_ e: CaptureEvent, file: StaticString = #filePath, line: UInt = #line) -> CapturedFrame? {
    if case .frame(let f) = e { return f }
    XCTFail("expected a frame, got \(e)", file: file, line: line)
    return nil
  }

  func testCaptureSequenceDropsAndRetries() throws {
    let s = ScriptedSyscalls()
    scriptStart(s)
    scriptFrame(s, index: 1, sequence: 5)
    // Next call: requeue buffer 1, poll interrupted (retried), a spurious wake-up (EAGAIN), then seq 8.
    s.expect("ioctl", request: ZSM_VIDIOC_QBUF, .value(0))
    s.expect("poll", .fail(.interrupted))
    s.expect(
      "poll",
      .fill { p in
        p.assumingMemoryBound(to: pollfd.self).pointee.revents = Int16(POLLIN)
        return 1
      })
    s.expect("ioctl", request: ZSM_VIDIOC_DQBUF, .fail(.tryAgain))
    scriptFrame(s, index: 2, sequence: 8)
    scriptStop(s)

    let cam = try V4L2Camera(config(), sys: Sys(s))
    XCTAssertEqual(
      cam.format,
      CameraFormat(fourcc: .yuyv, width: 4, height: 2, bytesPerLine: 8, sizeImage: 16, frameInterval: (1, 30)))
    XCTAssertEqual(cam.card, "vivid")
    // Pixel data in the mapped buffer 1: grey (Y 126, Cb = Cr = 128).
    let m = s.mapping(fd: 3, offset: 4096)!
    for i in 0..<16 { m.storeBytes(of: i % 2 == 0 ? 126 : 128, toByteOffset: i, as: UInt8.self) }
    guard let f1 = frame(cam.nextFrame()) else { return }
    XCTAssertEqual(f1.sequence, 5)
    XCTAssertEqual(f1.droppedBefore, 0)
    XCTAssertEqual(f1.timestampNanoseconds, 12_000_345_000)
    XCTAssertEqual(f1.data.count, 16)
    var rgb = [Float](repeating: 0, count: 3 * w * h)
    rgb.withUnsafeMutableBufferPointer { d in
      XCTAssert(
        f1.convert(
          to: PlanarRGB(packed: d.baseAddress!, width: w, height: h),
          coefficients: YCbCrCoefficients(.bt601, .limited)))
    }
    XCTAssertEqual(rgb[0], Float(126 - 16) / 219, accuracy: 1e-5)
    guard let f2 = frame(cam.nextFrame()) else { return }
    XCTAssertEqual(f2.sequence, 8)
    XCTAssertEqual(f2.droppedBefore, 2)
    XCTAssertEqual(cam.statistics, CaptureStatistics(framesCaptured: 2, framesDropped: 2, reconnects: 0, online: true))
    cam.stop()
    XCTAssert(s.finished, "mismatches \(s.mismatches), left \(s.remaining)")
  }

  /// ENODEV mid-stream: close, report no signal, retry with doubling back-off, recover.
  func testUnplugAndReconnect() throws {
    let s = ScriptedSyscalls()
    scriptStart(s)
    scriptFrame(s, index: 0, sequence: 0)
    s.expect("ioctl", request: ZSM_VIDIOC_QBUF, .value(0))
    s.expect(
      "poll",
      .fill { p in
        p.assumingMemoryBound(to: pollfd.self).pointee.revents = Int16(POLLIN | POLLERR)
        return 1
      })
    s.expect("ioctl", request: ZSM_VIDIOC_DQBUF, .fail(.noDevice))
    scriptStop(s)
    s.expect("open", path: "/dev/video0", .fail(.noSuchFile))  // after 100 ms
    s.expect("open", path: "/dev/video0", .fail(.noSuchFile))  // after 200 ms
    scriptStart(s, fd: 4)  // after 400 ms
    scriptFrame(s, index: 1, sequence: 0)

    let cam = try V4L2Camera(config(), sys: Sys(s))
    _ = frame(cam.nextFrame())
    guard case .noSignal(let why) = cam.nextFrame() else { return XCTFail("no noSignal") }
    XCTAssert(why.contains("VIDIOC_DQBUF") && why.contains("ENODEV"), why)
    XCTAssertFalse(cam.statistics.online)
    let t0 = s.clock
    guard case .noSignal(let why2) = cam.nextFrame() else { return XCTFail("no noSignal") }
    XCTAssert(why2.contains("ENOENT"), why2)
    XCTAssertEqual(s.clock - t0, 100_000_000)
    guard case .noSignal = cam.nextFrame() else { return XCTFail("no noSignal") }
    XCTAssertEqual(s.clock - t0, 300_000_000)
    guard let f = frame(cam.nextFrame()) else { return }
    XCTAssertEqual(s.clock - t0, 700_000_000)
    XCTAssertEqual(f.sequence, 0)
    XCTAssertEqual(f.droppedBefore, 0, "sequence restarts after a reconnect")
    XCTAssertEqual(cam.statistics.reconnects, 1)
    XCTAssert(cam.statistics.online)
    XCTAssert(s.finished, "mismatches \(s.mismatches), left \(s.remaining)")
  }

  /// A camera that stops delivering frames counts as lost after frameTimeoutMilliseconds.
  func testSilentCameraIsNoSignal() throws {
    let s = ScriptedSyscalls()
    scriptStart(s)
    s.expect("poll", .value(0))  // 1000 ms
    s.expect("poll", .value(0))  // 1000 ms more: 2 s silent
    scriptStop(s)
    let cam = try V4L2Camera(config(), sys: Sys(s))
    guard case .noSignal(let a) = cam.nextFrame(timeoutMilliseconds: 1000) else { return XCTFail() }
    XCTAssertEqual(a, "waiting")
    XCTAssert(cam.statistics.online)
    guard case .noSignal(let b) = cam.nextFrame(timeoutMilliseconds: 1000) else { return XCTFail() }
    XCTAssert(b.contains("waiting for a frame"), b)
    XCTAssertFalse(cam.statistics.online)
    XCTAssert(s.finished, "mismatches \(s.mismatches), left \(s.remaining)")
  }

  func testBusyDeviceNamesTheHolder() {
    let s = ScriptedSyscalls()
    s.directories["/proc"] = ["1234", "self", "99"]
    s.directories["/proc/1234/fd"] = ["0", "7"]
    s.directories["/proc/99/fd"] = ["0"]
    s.links["/proc/1234/fd/7"] = "/dev/video0"
    s.links["/proc/1234/exe"] = "/usr/bin/ffmpeg"
    s.expect("open", path: "/dev/video0", .value(3))
    s.expect(
      "ioctl", request: ZSM_VIDIOC_QUERYCAP,
      .fill { p in
        p.assumingMemoryBound(to: v4l2_capability.self).pointee.capabilities =
          UInt32(V4L2_CAP_VIDEO_CAPTURE) | UInt32(V4L2_CAP_STREAMING)
        return 0
      })
    s.expect("ioctl", request: ZSM_VIDIOC_S_FMT, .fail(.busy))
    s.expect("close", .value(0))
    XCTAssertThrowsError(try V4L2Camera(config(), sys: Sys(s))) { e in
      let d = "\(e)"
      XCTAssert(d.contains("/dev/video0: VIDIOC_S_FMT failed: EBUSY"), d)
      XCTAssert(d.contains("held by pid 1234 (ffmpeg)"), d)
    }
    XCTAssert(s.finished, "mismatches \(s.mismatches), left \(s.remaining)")
  }

  func testPermissionDeniedNamesTheGroup() {
    let s = ScriptedSyscalls()
    s.groups["/dev/video0"] = "video"
    s.expect("open", path: "/dev/video0", .fail(.permissionDenied))
    XCTAssertThrowsError(try V4L2Camera(config(), sys: Sys(s))) { e in
      XCTAssert("\(e)".contains("usermod -aG video"), "\(e)")
    }
  }

  func testEnumerateListsFormatsSizesAndRates() {
    let s = ScriptedSyscalls()
    s.directories["/dev"] = ["null", "video0"]
    s.expect("open", path: "/dev/video0", .value(3))
    s.expect(
      "ioctl", request: ZSM_VIDIOC_QUERYCAP,
      .fill { p in
        p.assumingMemoryBound(to: v4l2_capability.self).pointee.capabilities = UInt32(V4L2_CAP_VIDEO_CAPTURE)
        return 0
      })
    s.expect(
      "ioctl", request: ZSM_VIDIOC_ENUM_FMT,
      .fill { p in
        p.assumingMemoryBound(to: v4l2_fmtdesc.self).pointee.pixelformat = FourCC.yuyv.rawValue
        return 0
      })
    s.expect(
      "ioctl", request: ZSM_VIDIOC_ENUM_FRAMESIZES,
      .fill { p in
        let f = p.assumingMemoryBound(to: v4l2_frmsizeenum.self)
        f.pointee.type = V4L2_FRMSIZE_TYPE_DISCRETE.rawValue
        f.pointee.discrete = v4l2_frmsize_discrete(width: 640, height: 480)
        return 0
      })
    s.expect(
      "ioctl", request: ZSM_VIDIOC_ENUM_FRAMEINTERVALS,
      .fill { p in
        let f = p.assumingMemoryBound(to: v4l2_frmivalenum.self)
        f.pointee.type = V4L2_FRMIVAL_TYPE_DISCRETE.rawValue
        f.pointee.discrete = v4l2_fract(numerator: 1, denominator: 25)
        return 0
      })
    s.expect("ioctl", request: ZSM_VIDIOC_ENUM_FRAMEINTERVALS, .fail(.invalidArgument))
    s.expect("ioctl", request: ZSM_VIDIOC_ENUM_FRAMESIZES, .fail(.invalidArgument))
    s.expect("ioctl", request: ZSM_VIDIOC_ENUM_FMT, .fail(.invalidArgument))
    s.expect("close", .value(0))
    let (cams, problems) = V4L2Camera.enumerate(sys: Sys(s))
    XCTAssert(problems.isEmpty)
    XCTAssertEqual(cams.count, 1)
    XCTAssertEqual(cams.first?.formats.first?.fourcc, .yuyv)
    XCTAssertEqual(cams.first?.formats.first?.sizes.first?.width, 640)
    XCTAssertEqual(cams.first?.formats.first?.sizes.first?.framesPerSecond, [25])
    XCTAssert(s.finished, "mismatches \(s.mismatches), left \(s.remaining)")
  }
}
