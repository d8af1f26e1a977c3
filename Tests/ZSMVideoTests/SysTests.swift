import CV4L2
import XCTest
import ZSMVideo

final class SysTests: XCTestCase {
  func testEINTRIsRetriedAndOtherErrorsAreTyped() throws {
    let script = ScriptedSyscalls()
    script.expect("open", path: "/dev/video0", .fail(.interrupted))
    script.expect("open", path: "/dev/video0", .value(3))
    script.expect("ioctl", request: ZSM_VIDIOC_QUERYCAP, .fail(.interrupted))
    script.expect(
      "ioctl", request: ZSM_VIDIOC_QUERYCAP,
      .fill { p in
        p.assumingMemoryBound(to: v4l2_capability.self).pointee.capabilities = 7
        return 0
      })
    script.expect("ioctl", request: ZSM_VIDIOC_DQBUF, .fail(.tryAgain))
    script.expect("ioctl", request: ZSM_VIDIOC_DQBUF, .fail(.interrupted))
    let sys = Sys(script)
    let fd = try sys.open("/dev/video0", flags: O_RDWR, kind: .v4l2)
    XCTAssertEqual(fd, 3)
    var cap = v4l2_capability()
    try sys.ioctl(fd, ZSM_VIDIOC_QUERYCAP, &cap)
    XCTAssertEqual(cap.capabilities, 7)
    var buf = v4l2_buffer()
    XCTAssertThrowsError(try sys.ioctl(fd, ZSM_VIDIOC_DQBUF, &buf)) { XCTAssertEqual($0 as? Errno, .tryAgain) }
    XCTAssertThrowsError(try sys.ioctl(fd, ZSM_VIDIOC_DQBUF, &buf, retryOnInterrupt: false)) {
      XCTAssertEqual($0 as? Errno, .interrupted)
    }
    XCTAssert(script.finished, "\(script.mismatches)")
    XCTAssertEqual(
      script.trace.map(\.description),
      [
        "open /dev/video0", "open /dev/video0", "ioctl(3) VIDIOC_QUERYCAP", "ioctl(3) VIDIOC_QUERYCAP",
        "ioctl(3) VIDIOC_DQBUF", "ioctl(3) VIDIOC_DQBUF",
      ])
  }

  func testUnexpectedCallsAreReported() {
    let script = ScriptedSyscalls()
    script.expect("close", .value(0))
    XCTAssertThrowsError(try Sys(script).open("/dev/dri/card0", flags: O_RDWR, kind: .drm))
    XCTAssertFalse(script.finished)
    XCTAssertEqual(script.mismatches.count, 1)
  }

  func testErrnoDescriptions() {
    XCTAssert(Errno.noDevice.description.hasPrefix("ENODEV"))
    XCTAssertEqual(Errno.busy.name, "EBUSY")
    let e = DeviceError(path: "/dev/video0", call: .ioctl(ZSM_VIDIOC_REQBUFS), errno: .busy, hint: "held by pid 42")
    XCTAssertEqual(e.description, "/dev/video0: VIDIOC_REQBUFS failed: \(Errno.busy); held by pid 42")
  }
}
