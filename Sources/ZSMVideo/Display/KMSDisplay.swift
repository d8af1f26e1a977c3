import CDRM
import CV4L2
import ZSMKernels

/// How a frame is placed on a mode of another size. Everything outside the picture is black.
public enum DisplayScaling: Sendable {
  /// 1:1, centred (cropped to the mode if larger).
  case center
  /// The largest integer enlargement that fits, centred (nearest neighbour).
  case integer
  /// Aspect-preserving bilinear fit, centred.
  case bilinear
}

/// An XRGB8888 dumb buffer with its framebuffer and mapping.
struct DumbBuffer {
  var handle: UInt32
  var fb: UInt32
  var pitch: Int
  var size: Int
  var map: UnsafeMutableRawPointer
  /// The picture rectangle last drawn (x, y, w, h), to know when the borders need clearing.
  var layout: (Int, Int, Int, Int) = (-1, -1, -1, -1)
}

/// A KMS display through the legacy API: modeset once, then page flips on vblank with
/// flip-complete events, never tearing and never blocking the caller.
///
/// Scan-out is double-buffered (the `active` buffer on screen, the `pending` one flipped to
/// at the next vblank); a third buffer holds the `queued` frame that arrived while a flip was
/// pending. A newer frame replaces the queued one (counted in `framesReplaced`), so `present`
/// always returns at once. The CRTC's previous configuration is restored by `close()`.
public final class KMSDisplay {
  public let card: KMSCard
  public let connector: ConnectorDescription
  public let crtcID: UInt32
  public let mode: DisplayMode
  public var path: String { card.path }
  public private(set) var framesPresented = 0
  public private(set) var framesReplaced = 0
  public private(set) var flipsCompleted = 0
  /// Kernel timestamps (ns, CLOCK_MONOTONIC) of the completed flips, last 256.
  public private(set) var flipTimes: [Int64] = []
  /// The CRTC's vblank counter at each completed flip, last 256 (consecutive numbers mean a
  /// flip at every vblank).
  public private(set) var flipSequences: [UInt32] = []
  var buffers: [DumbBuffer] = []
  var active = 0
  var pending: Int?
  var queued: Int?
  var saved: drm_mode_crtc?
  var closed = false
  let sys: Sys
  /// Allocated once the card is chosen: an init that throws before every stored property is
  /// set never runs `deinit`, so a buffer allocated earlier leaked with every failed open.
  let eventBuffer: UnsafeMutableRawBufferPointer

  /// Opens `cardPath` (or the first card with a connected connector), picks the connector
  /// (by name, e.g. "HDMI-A-1", or the first connected one), a CRTC and a mode, creates the
  /// buffers and sets the mode with a black frame.
  /// - Throws: `DeviceError`; when another process is DRM master, its hint says so.
  public init(
    cardPath: String? = nil, connectorName: String? = nil, mode requestedMode: String? = nil, sys: Sys = .live
  ) throws(DeviceError) {
    self.sys = sys
    var lastError: DeviceError?
    var chosen: (KMSCard, ConnectorDescription, UInt32, DisplayMode)?
    for p in cardPath.map({ [$0] }) ?? KMSCard.cardPaths(sys: sys) {
      do throws(DeviceError) {
        let c = try KMSCard.open(p, sys: sys)
        do throws(DeviceError) {
          let res = try c.resources()
          var conns: [ConnectorDescription] = []
          for id in res.connectors { conns.append(try c.connector(id)) }
          let want = conns.first {
            connectorName == nil ? ($0.connected && !$0.modes.isEmpty && $0.type != 18) : $0.name == connectorName
          }
          guard let conn = want else {
            throw DeviceError(
              path: p, call: .ioctl(ZSM_DRM_IOCTL_MODE_GETCONNECTOR), errno: .noDevice,
              hint: connectorName.map {
                "no connector named \($0) (have: \(conns.map(\.name).joined(separator: ", ")))"
              }
                ?? "no connected connector")
          }
          guard let m = chooseMode(conn.modes, requested: requestedMode) else {
            throw DeviceError(
              path: p, call: .ioctl(ZSM_DRM_IOCTL_MODE_GETCONNECTOR), errno: .invalidArgument,
              hint: "connector \(conn.name) has no mode \(requestedMode ?? "") (modes: "
                + conn.modes.map(\.description).joined(separator: ", ") + ")")
          }
          chosen = (c, conn, try c.crtc(for: conn, crtcs: res.crtcs), m)
        } catch {
          c.close()
          throw error
        }
      } catch { lastError = error }
      if chosen != nil { break }
    }
    guard let chosen else {
      throw lastError ?? DeviceError(path: "/dev/dri", call: .open, errno: .noSuchFile, hint: "no DRM card")
    }
    (card, connector, crtcID, mode) = chosen
    eventBuffer = .allocate(byteCount: 1024, alignment: 8)
    do throws(DeviceError) {
      try becomeMaster()
      saved = try? card.crtc(crtcID)
      for _ in 0..<3 { buffers.append(try createBuffer(mode.width, mode.height)) }
      var conn = connector.id
      try setCrtc(fb: buffers[0].fb, connectors: &conn, count: 1, mode: mode.info)
    } catch {
      release()
      throw error
    }
  }

  deinit {
    close()
    eventBuffer.deallocate()
  }

  /// DRM_IOCTL_SET_MASTER: EBUSY (or EACCES/EPERM) means another process is master.
  func becomeMaster() throws(DeviceError) {
    var unused: Int32 = 0
    do { try sys.ioctl(card.fd, ZSM_DRM_IOCTL_SET_MASTER, &unused) } catch {
      // Without CAP_SYS_ADMIN SET_MASTER may fail although we already are master (first
      // opener); the modeset below then decides. EBUSY is unambiguous.
      if error == .busy { throw masterConflict(.ioctl(ZSM_DRM_IOCTL_SET_MASTER), error) }
    }
  }

  func masterConflict(_ call: DeviceCall, _ e: Errno) -> DeviceError {
    DeviceError(
      path: card.path, call: call, errno: e,
      hint: "another process is DRM master of \(card.path) (a display server such as X11, a Wayland compositor "
        + "or another zsm): stop it or switch to a free virtual terminal; "
        + DeviceHints.holders(of: card.path, sys))
  }

  func setCrtc(fb: UInt32, connectors: UnsafeMutablePointer<UInt32>?, count: Int, mode m: drm_mode_modeinfo?)
    throws(DeviceError)
  {
    var c = drm_mode_crtc()
    c.crtc_id = crtcID
    c.fb_id = fb
    c.set_connectors_ptr = UInt64(UInt(bitPattern: connectors))
    c.count_connectors = UInt32(count)
    if let m {
      c.mode = m
      c.mode_valid = 1
    }
    do { try sys.ioctl(card.fd, ZSM_DRM_IOCTL_MODE_SETCRTC, &c) } catch {
      if error == .permissionDenied || error == .notPermitted {
        throw masterConflict(.ioctl(ZSM_DRM_IOCTL_MODE_SETCRTC), error)
      }
      throw card.fail(.ioctl(ZSM_DRM_IOCTL_MODE_SETCRTC), error)
    }
  }

  func createBuffer(_ w: Int, _ h: Int) throws(DeviceError) -> DumbBuffer {
    var c = drm_mode_create_dumb()
    c.width = UInt32(w)
    c.height = UInt32(h)
    c.bpp = 32
    try card.ioctl(ZSM_DRM_IOCTL_MODE_CREATE_DUMB, &c)
    var fb = drm_mode_fb_cmd2()
    fb.width = UInt32(w)
    fb.height = UInt32(h)
    fb.pixel_format = ZSM_DRM_FORMAT_XRGB8888
    fb.handles.0 = c.handle
    fb.pitches.0 = c.pitch
    do throws(DeviceError) {
      try card.ioctl(ZSM_DRM_IOCTL_MODE_ADDFB2, &fb)
      var m = drm_mode_map_dumb()
      m.handle = c.handle
      try card.ioctl(ZSM_DRM_IOCTL_MODE_MAP_DUMB, &m)
      let p: UnsafeMutableRawPointer
      do { p = try sys.mmap(card.fd, length: Int(c.size), offset: Int64(m.offset)) } catch {
        throw card.fail(.mmap, error)
      }
      p.initializeMemory(as: UInt8.self, repeating: 0, count: Int(c.size))
      return DumbBuffer(handle: c.handle, fb: fb.fb_id, pitch: Int(c.pitch), size: Int(c.size), map: p)
    } catch {
      if fb.fb_id != 0 { var id = fb.fb_id; _ = try? sys.ioctl(card.fd, ZSM_DRM_IOCTL_MODE_RMFB, &id) }
      var d = drm_mode_destroy_dumb(handle: c.handle)
      _ = try? sys.ioctl(card.fd, ZSM_DRM_IOCTL_MODE_DESTROY_DUMB, &d)
      throw error
    }
  }

  // MARK: - Presenting

  /// Draws `frame` into a free buffer and flips to it at the next vblank (or queues it while a
  /// flip is pending, replacing an older queued frame). Never waits for the display.
  public func present(_ frame: PlanarRGB, scaling: DisplayScaling = .integer) throws(DeviceError) {
    _ = try handleEvents(timeoutMilliseconds: 0)
    let target: Int
    if let q = queued {
      target = q
      framesReplaced += 1
    } else {
      target = (0..<buffers.count).first { $0 != active && $0 != pending }!
    }
    draw(frame, into: target, scaling: scaling)
    framesPresented += 1
    if pending == nil {
      try flip(to: target)
      queued = nil
    } else {
      queued = target
    }
  }

  /// Direct access for drawing by the caller (tests, overlays): the buffer that `present`
  /// would draw into next, its pitch, and a function to show it.
  public func withNextBuffer(_ body: (UnsafeMutableRawPointer, _ pitch: Int) -> Void) throws(DeviceError) {
    _ = try handleEvents(timeoutMilliseconds: 0)
    let target = queued ?? (0..<buffers.count).first { $0 != active && $0 != pending }!
    body(buffers[target].map, buffers[target].pitch)
    buffers[target].layout = (-1, -1, -1, -1)
    framesPresented += 1
    if pending == nil {
      try flip(to: target)
      queued = nil
    } else {
      if queued != nil { framesReplaced += 1 }
      queued = target
    }
  }

  /// The buffer currently on screen (for read-back checks).
  public var activeBuffer: (map: UnsafeMutableRawPointer, pitch: Int, fb: UInt32) {
    (buffers[active].map, buffers[active].pitch, buffers[active].fb)
  }

  public var flipPending: Bool { pending != nil }

  func flip(to index: Int) throws(DeviceError) {
    var f = drm_mode_crtc_page_flip()
    f.crtc_id = crtcID
    f.fb_id = buffers[index].fb
    f.flags = UInt32(DRM_MODE_PAGE_FLIP_EVENT)
    f.user_data = UInt64(index)
    do { try sys.ioctl(card.fd, ZSM_DRM_IOCTL_MODE_PAGE_FLIP, &f) } catch {
      if error == .permissionDenied { throw masterConflict(.ioctl(ZSM_DRM_IOCTL_MODE_PAGE_FLIP), error) }
      throw card.fail(.ioctl(ZSM_DRM_IOCTL_MODE_PAGE_FLIP), error)
    }
    pending = index
  }

  /// Waits up to `timeoutMilliseconds` for flip-complete events and handles them (a queued
  /// frame is flipped to at once). Returns the number of flips completed.
  @discardableResult
  public func handleEvents(timeoutMilliseconds: Int32) throws(DeviceError) -> Int {
    var done = 0
    var timeout = timeoutMilliseconds
    while pending != nil {
      let revents: Int16
      do { revents = try sys.poll(card.fd, events: Int16(POLLIN), timeoutMilliseconds: timeout) } catch {
        throw card.fail(.poll, error)
      }
      if revents == 0 { break }
      let buf = eventBuffer
      let n: Int
      do { n = try sys.read(card.fd, into: buf) } catch {
        if error == .tryAgain { continue }
        throw card.fail(.read, error)
      }
      var off = 0
      while off + 8 <= n {
        let type = buf.loadUnaligned(fromByteOffset: off, as: UInt32.self)
        let length = Int(buf.loadUnaligned(fromByteOffset: off + 4, as: UInt32.self))
        if length < 8 || off + length > n { break }
        if type == UInt32(DRM_EVENT_FLIP_COMPLETE) && length >= MemoryLayout<drm_event_vblank>.size {
          let ev = buf.loadUnaligned(fromByteOffset: off, as: drm_event_vblank.self)
          flipCompleted(Int(ev.user_data), Int64(ev.tv_sec) * 1_000_000_000 + Int64(ev.tv_usec) * 1000, ev.sequence)
          done += 1
        }
        off += length
      }
      timeout = 0
      if done > 0, let q = queued, pending == nil {
        queued = nil
        try flip(to: q)
      }
      if done > 0 { break }
    }
    return done
  }

  func flipCompleted(_ index: Int, _ time: Int64, _ sequence: UInt32) {
    guard let p = pending, p == index else { return }
    active = p
    pending = nil
    flipsCompleted += 1
    if flipTimes.count == 256 { flipTimes.removeFirst() }
    flipTimes.append(time)
    if flipSequences.count == 256 { flipSequences.removeFirst() }
    flipSequences.append(sequence)
  }

  /// Waits for the pending flip (and a queued one) to complete.
  public func drain(timeoutMilliseconds: Int32 = 1000) throws(DeviceError) {
    var rounds = 0
    while pending != nil && rounds < 4 {
      if try handleEvents(timeoutMilliseconds: timeoutMilliseconds) == 0 { break }
      rounds += 1
    }
  }

  func draw(_ frame: PlanarRGB, into index: Int, scaling: DisplayScaling) {
    let mw = mode.width
    let mh = mode.height
    var w = frame.width
    var h = frame.height
    switch scaling {
    case .center: break
    case .integer:
      let k = max(1, min(mw / max(w, 1), mh / max(h, 1)))
      w *= k
      h *= k
    case .bilinear:
      if w * mh > h * mw {
        h = max(1, h * mw / max(w, 1))
        w = mw
      } else {
        w = max(1, w * mh / max(h, 1))
        h = mh
      }
    }
    let dw = min(w, mw)
    let dh = min(h, mh)
    let x0 = (mw - dw) / 2
    let y0 = (mh - dh) / 2
    var b = buffers[index]
    if b.layout != (x0, y0, dw, dh) {
      b.map.initializeMemory(as: UInt8.self, repeating: 0, count: b.size)
      b.layout = (x0, y0, dw, dh)
      buffers[index].layout = b.layout
    }
    let origin = b.map + y0 * b.pitch + x0 * 4
    switch scaling {
    case .bilinear:
      convertRGBToXRGB8888Bilinear(frame, to: origin, dstRowBytes: b.pitch, dstWidth: dw, dstHeight: dh, rows: 0..<dh)
    case .integer where w > frame.width:
      let k = w / frame.width
      // Crop is impossible here (k chosen to fit).
      convertRGBToXRGB8888Scaled(frame, factor: k, to: origin, dstRowBytes: b.pitch, rows: 0..<dh)
    default:
      // Centred 1:1 (cropped to the mode when the frame is larger).
      let sx = (frame.width - dw) / 2
      let sy = (frame.height - dh) / 2
      let view = PlanarRGB(
        base: frame.base + sy * frame.rowStride + sx, width: dw, height: dh, rowStride: frame.rowStride,
        planeStride: frame.planeStride)
      convertRGBToXRGB8888(view, to: origin, dstRowBytes: b.pitch, rows: 0..<dh)
    }
  }

  // MARK: - Teardown

  /// Restores the CRTC as it was before (or switches it off), frees the buffers, closes the card.
  public func close() {
    if closed { return }
    closed = true
    try? drain(timeoutMilliseconds: 200)
    if let s = saved, s.mode_valid != 0, s.fb_id != 0 {
      var conn = connector.id
      try? setCrtc(fb: s.fb_id, connectors: &conn, count: 1, mode: s.mode)
    } else {
      try? setCrtc(fb: 0, connectors: nil, count: 0, mode: nil)
    }
    release()
  }

  func release() {
    for b in buffers {
      try? sys.munmap(b.map, length: b.size)
      var id = b.fb
      _ = try? sys.ioctl(card.fd, ZSM_DRM_IOCTL_MODE_RMFB, &id)
      var d = drm_mode_destroy_dumb(handle: b.handle)
      _ = try? sys.ioctl(card.fd, ZSM_DRM_IOCTL_MODE_DESTROY_DUMB, &d)
    }
    buffers = []
    card.close()
    closed = true
  }
}
