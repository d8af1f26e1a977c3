import CDRM
import CV4L2
import XCTest
import ZSMKernels
import ZSMVideo

/// Drives KMSDisplay through ScriptedSyscalls: discovery, DRM-master conflict, modeset,
/// page flips with events, replacing the queued frame, restoring the CRTC.
final class DisplayScriptTests: XCTestCase {
  func scriptDiscovery(_ s: ScriptedSyscalls) {
    s.expect("open", path: "/dev/dri/card0", .value(5))
    s.expect(
      "ioctl", request: ZSM_DRM_IOCTL_MODE_GETRESOURCES,
      .fill { p in
        let r = p.assumingMemoryBound(to: drm_mode_card_res.self)
        r.pointee.count_crtcs = 1
        r.pointee.count_connectors = 1
        r.pointee.count_encoders = 1
        return 0
      })
    s.expect(
      "ioctl", request: ZSM_DRM_IOCTL_MODE_GETRESOURCES,
      .fill { p in
        let r = p.assumingMemoryBound(to: drm_mode_card_res.self)
        UnsafeMutablePointer<UInt32>(bitPattern: UInt(r.pointee.crtc_id_ptr))!.pointee = 40
        UnsafeMutablePointer<UInt32>(bitPattern: UInt(r.pointee.connector_id_ptr))!.pointee = 30
        UnsafeMutablePointer<UInt32>(bitPattern: UInt(r.pointee.encoder_id_ptr))!.pointee = 35
        return 0
      })
    for _ in 0..<2 {
      s.expect(
        "ioctl", request: ZSM_DRM_IOCTL_MODE_GETCONNECTOR,
        .fill { p in
          let c = p.assumingMemoryBound(to: drm_mode_get_connector.self)
          if c.pointee.modes_ptr != 0 {
            var m = drm_mode_modeinfo()
            m.hdisplay = 64
            m.vdisplay = 32
            m.vrefresh = 60
            m.type = UInt32(DRM_MODE_TYPE_PREFERRED)
            UnsafeMutablePointer<drm_mode_modeinfo>(bitPattern: UInt(c.pointee.modes_ptr))!.pointee = m
            UnsafeMutablePointer<UInt32>(bitPattern: UInt(c.pointee.encoders_ptr))!.pointee = 35
          }
          c.pointee.count_modes = 1
          c.pointee.count_encoders = 1
          c.pointee.connection = 1
          c.pointee.connector_type = 15
          c.pointee.connector_type_id = 1
          return 0
        })
    }
    s.expect(
      "ioctl", request: ZSM_DRM_IOCTL_MODE_GETENCODER,
      .fill { p in
        p.assumingMemoryBound(to: drm_mode_get_encoder.self).pointee.possible_crtcs = 1
        return 0
      })
  }

  func testAnotherMasterIsReportedClearly() {
    let s = ScriptedSyscalls()
    scriptDiscovery(s)
    s.expect("ioctl", request: ZSM_DRM_IOCTL_SET_MASTER, .fail(.busy))
    s.expect("close", .value(0))
    XCTAssertThrowsError(try KMSDisplay(cardPath: "/dev/dri/card0", sys: Sys(s))) { e in
      let text = "\(e)"
      XCTAssert(text.contains("/dev/dri/card0: DRM_IOCTL_SET_MASTER failed: EBUSY"), text)
      XCTAssert(text.contains("another process is DRM master"), text)
    }
    XCTAssert(s.finished, "mismatches \(s.mismatches), left \(s.remaining)")
  }

  func testUnknownConnectorAndModeAreNamed() {
    let s = ScriptedSyscalls()
    scriptDiscovery(s)
    s.steps.removeLast()  // no encoder lookup: the mode is rejected first
    s.expect("close", .value(0))
    XCTAssertThrowsError(try KMSDisplay(cardPath: "/dev/dri/card0", mode: "1920x1080", sys: Sys(s))) { e in
      XCTAssert("\(e)".contains("has no mode 1920x1080 (modes: 64x32@60 (preferred))"), "\(e)")
    }
  }

  func flipEvent(_ s: ScriptedSyscalls, userData: UInt64) {
    s.expect(
      "poll",
      .fill { p in
        p.assumingMemoryBound(to: pollfd.self).pointee.revents = Int16(POLLIN)
        return 1
      })
    s.expect(
      "read",
      .fill { p in
        var ev = drm_event_vblank()
        ev.base.type = UInt32(DRM_EVENT_FLIP_COMPLETE)
        ev.base.length = UInt32(MemoryLayout<drm_event_vblank>.size)
        ev.user_data = userData
        ev.tv_sec = 7
        p.storeBytes(of: ev, as: drm_event_vblank.self)
        return MemoryLayout<drm_event_vblank>.size
      })
  }

  func testFlipsQueueAndReplaceWithoutBlocking() throws {
    let s = ScriptedSyscalls()
    scriptDiscovery(s)
    s.expect("ioctl", request: ZSM_DRM_IOCTL_SET_MASTER, .value(0))
    s.expect("ioctl", request: ZSM_DRM_IOCTL_MODE_GETCRTC, .value(0))  // was off
    for i in 0..<3 {
      s.expect(
        "ioctl", request: ZSM_DRM_IOCTL_MODE_CREATE_DUMB,
        .fill { p in
          let c = p.assumingMemoryBound(to: drm_mode_create_dumb.self)
          XCTAssertEqual(c.pointee.bpp, 32)
          c.pointee.handle = UInt32(10 + i)
          c.pointee.pitch = 256
          c.pointee.size = 256 * 32
          return 0
        })
      s.expect(
        "ioctl", request: ZSM_DRM_IOCTL_MODE_ADDFB2,
        .fill { p in
          let f = p.assumingMemoryBound(to: drm_mode_fb_cmd2.self)
          XCTAssertEqual(f.pointee.pixel_format, ZSM_DRM_FORMAT_XRGB8888)
          f.pointee.fb_id = UInt32(100 + i)
          return 0
        })
      s.expect("ioctl", request: ZSM_DRM_IOCTL_MODE_MAP_DUMB, .value(0))
      s.expect("mmap", .value(0))
    }
    s.expect(
      "ioctl", request: ZSM_DRM_IOCTL_MODE_SETCRTC,
      .fill { p in
        let c = p.assumingMemoryBound(to: drm_mode_crtc.self)
        XCTAssertEqual(c.pointee.crtc_id, 40)
        XCTAssertEqual(c.pointee.fb_id, 100)
        XCTAssertEqual(c.pointee.mode.hdisplay, 64)
        return 0
      })
    // present #1: flip to buffer 1 at once.
    s.expect(
      "ioctl", request: ZSM_DRM_IOCTL_MODE_PAGE_FLIP,
      .fill { p in
        XCTAssertEqual(p.assumingMemoryBound(to: drm_mode_crtc_page_flip.self).pointee.fb_id, 101)
        return 0
      })
    // present #2 and #3 while the flip is pending: no event yet; #3 replaces #2 in buffer 2.
    s.expect("poll", .value(0))
    s.expect("poll", .value(0))
    // The flip completes; the queued frame (buffer 2) is flipped to at once.
    flipEvent(s, userData: 1)
    s.expect(
      "ioctl", request: ZSM_DRM_IOCTL_MODE_PAGE_FLIP,
      .fill { p in
        XCTAssertEqual(p.assumingMemoryBound(to: drm_mode_crtc_page_flip.self).pointee.fb_id, 102)
        return 0
      })
    // close(): wait for the last flip, switch the CRTC off (it was off), free everything.
    flipEvent(s, userData: 2)
    s.expect(
      "ioctl", request: ZSM_DRM_IOCTL_MODE_SETCRTC,
      .fill { p in
        XCTAssertEqual(p.assumingMemoryBound(to: drm_mode_crtc.self).pointee.fb_id, 0)
        return 0
      })
    for _ in 0..<3 {
      s.expect("munmap", .value(0))
      s.expect("ioctl", request: ZSM_DRM_IOCTL_MODE_RMFB, .value(0))
      s.expect("ioctl", request: ZSM_DRM_IOCTL_MODE_DESTROY_DUMB, .value(0))
    }
    s.expect("close", .value(0))

    let d = try KMSDisplay(cardPath: "/dev/dri/card0", sys: Sys(s))
    XCTAssertEqual(d.connector.name, "Virtual-1")
    XCTAssertEqual(d.mode.width, 64)
    var planes = [Float](repeating: 0, count: 3 * 8 * 4)
    for i in 0..<32 { planes[i] = 1 }  // red 8x4 frame
    try planes.withUnsafeMutableBufferPointer { b in
      let f = PlanarRGB(packed: b.baseAddress!, width: 8, height: 4)
      try d.present(f, scaling: .integer)
      XCTAssert(d.flipPending)
      try d.present(f, scaling: .integer)
      try d.present(f, scaling: .integer)
    }
    XCTAssertEqual(d.framesReplaced, 1)
    XCTAssertEqual(d.framesPresented, 3)
    try d.handleEvents(timeoutMilliseconds: 100)
    XCTAssertEqual(d.flipsCompleted, 1)
    d.close()
    XCTAssertEqual(d.flipsCompleted, 2)
    XCTAssert(s.finished, "mismatches \(s.mismatches), left \(s.remaining)")
  }
}

final class ModeChoiceTests: XCTestCase {
  func testModeNamesFromUsersNeverCrash() {
    var a = drm_mode_modeinfo()
    a.hdisplay = 1280
    a.vdisplay = 720
    a.vrefresh = 60
    var b = a
    b.hdisplay = 1920
    b.vdisplay = 1080
    b.type = UInt32(DRM_MODE_TYPE_PREFERRED)
    let modes = [DisplayMode(info: a), DisplayMode(info: b)]
    XCTAssertEqual(chooseMode(modes, requested: nil)?.width, 1920)
    XCTAssertEqual(chooseMode(modes, requested: "1280x720")?.width, 1280)
    XCTAssertEqual(chooseMode(modes, requested: "1280x720@60")?.width, 1280)
    for bad in ["", "@", "x", "1280", "1280x", "axb", "1280x720@x@y", "99999999999999999999x1"] {
      XCTAssertNil(chooseMode(modes, requested: bad), bad)
    }
  }
}
