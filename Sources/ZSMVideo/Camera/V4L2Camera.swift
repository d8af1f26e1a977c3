import CV4L2

/// A V4L2 capture device opened through libv4l2, streaming into a small ring of mmap'ed
/// buffers, reconnecting by itself.
///
/// `nextFrame` never ends the stream: when the device disappears (ENODEV, POLLERR) or stays
/// silent for `frameTimeoutMilliseconds`, it closes everything, reports `.noSignal`, and on
/// later calls reopens with doubling back-off until the camera is back.
public final class V4L2Camera {
  public let configuration: CameraConfiguration
  public var path: String { configuration.path }
  let sys: Sys

  /// The negotiated format (read back with VIDIOC_G_FMT after VIDIOC_REQBUFS); nil while offline.
  public private(set) var format: CameraFormat?
  public private(set) var statistics = CaptureStatistics()
  /// Card and driver names from VIDIOC_QUERYCAP.
  public private(set) var card = ""
  public private(set) var driver = ""

  var fd: Int32 = -1
  var buffers: [(address: UnsafeMutableRawPointer, length: Int)] = []
  var queuedBack: Int32?  // the buffer handed out by the last nextFrame, to requeue
  var lastSequence: UInt32?
  var lastFrameAt: Int64 = 0
  var nextAttemptAt: Int64 = 0
  var backoffMilliseconds: Int
  var lastProblem = ""

  /// Opens and starts the camera. Throws if the first attempt fails (so a wrong path, a busy
  /// device or missing permissions are reported at once); later losses are reconnected.
  public init(_ configuration: CameraConfiguration, sys: Sys = .live) throws(DeviceError) {
    self.configuration = configuration
    self.sys = sys
    backoffMilliseconds = configuration.reconnectInitialMilliseconds
    try start()
  }

  deinit { shutDown() }

  // MARK: - Starting and stopping

  func fail(_ call: DeviceCall, _ e: Errno) -> DeviceError {
    var hint: String?
    switch e {
    case .busy: hint = DeviceHints.holders(of: path, sys)
    case .permissionDenied: hint = DeviceHints.permission(for: path, sys)
    case .noSuchFile: hint = "no such device (is the camera plugged in? `zsm devices` lists cameras)"
    default: break
    }
    return DeviceError(path: path, call: call, errno: e, hint: hint)
  }

  func ioctl<T>(_ request: UInt, _ arg: inout T) throws(DeviceError) {
    do { try sys.ioctl(fd, request, &arg) } catch { throw fail(.ioctl(request), error) }
  }

  /// open, QUERYCAP, S_FMT, S_PARM, REQBUFS, G_FMT, QUERYBUF + mmap + QBUF, STREAMON.
  func start() throws(DeviceError) {
    do { fd = try sys.open(path, flags: O_RDWR | O_NONBLOCK, kind: .v4l2) } catch { throw fail(.open, error) }
    do throws(DeviceError) {
      var cap = v4l2_capability()
      try ioctl(ZSM_VIDIOC_QUERYCAP, &cap)
      let caps = (cap.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS)) != 0 ? cap.device_caps : cap.capabilities
      driver = cString(cap.driver)
      card = cString(cap.card)
      guard caps & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0, caps & UInt32(V4L2_CAP_STREAMING) != 0 else {
        throw DeviceError(
          path: path, call: .ioctl(ZSM_VIDIOC_QUERYCAP), errno: .invalidArgument,
          hint: "'\(card)' is not a streaming video capture device")
      }
      var fmt = v4l2_format()
      fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
      fmt.fmt.pix.width = UInt32(configuration.width)
      fmt.fmt.pix.height = UInt32(configuration.height)
      fmt.fmt.pix.pixelformat = configuration.fourcc.rawValue
      fmt.fmt.pix.field = V4L2_FIELD_NONE.rawValue
      try ioctl(ZSM_VIDIOC_S_FMT, &fmt)
      if let fps = configuration.framesPerSecond, fps > 0 {
        var parm = v4l2_streamparm()
        parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        parm.parm.capture.timeperframe = v4l2_fract(numerator: 1, denominator: UInt32(fps))
        try? ioctl(ZSM_VIDIOC_S_PARM, &parm)  // not every driver can; the read-back says what we got
      }
      var req = v4l2_requestbuffers()
      req.count = UInt32(max(2, configuration.bufferCount))
      req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
      req.memory = V4L2_MEMORY_MMAP.rawValue
      try ioctl(ZSM_VIDIOC_REQBUFS, &req)
      guard req.count >= 2 else {
        throw DeviceError(
          path: path, call: .ioctl(ZSM_VIDIOC_REQBUFS), errno: .noMemory, hint: "driver granted \(req.count) buffers")
      }
      // The format can change between S_FMT and REQBUFS: read back what the buffers hold.
      var got = v4l2_format()
      got.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
      try ioctl(ZSM_VIDIOC_G_FMT, &got)
      var parm = v4l2_streamparm()
      parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
      var interval = (0, 0)
      if (try? ioctl(ZSM_VIDIOC_G_PARM, &parm)) != nil {
        interval = (Int(parm.parm.capture.timeperframe.numerator), Int(parm.parm.capture.timeperframe.denominator))
      }
      let pix = got.fmt.pix
      format = CameraFormat(
        fourcc: FourCC(rawValue: pix.pixelformat), width: Int(pix.width), height: Int(pix.height),
        bytesPerLine: Int(pix.bytesperline), sizeImage: Int(pix.sizeimage), frameInterval: interval)
      for i in 0..<req.count {
        var buf = v4l2_buffer()
        buf.index = i
        buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        buf.memory = V4L2_MEMORY_MMAP.rawValue
        try ioctl(ZSM_VIDIOC_QUERYBUF, &buf)
        let length = Int(buf.length)
        do {
          let p = try sys.mmap(fd, length: length, offset: Int64(buf.m.offset))
          buffers.append((p, length))
        } catch { throw fail(.mmap, error) }
        try ioctl(ZSM_VIDIOC_QBUF, &buf)
      }
      var type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
      try ioctl(ZSM_VIDIOC_STREAMON, &type)
    } catch {
      shutDown()
      throw error
    }
    lastSequence = nil
    queuedBack = nil
    lastFrameAt = sys.now
    statistics.online = true
  }

  /// STREAMOFF, munmap, close; errors are ignored (the device may be gone).
  func shutDown() {
    guard fd >= 0 else { return }
    var type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
    if !buffers.isEmpty { _ = try? sys.ioctl(fd, ZSM_VIDIOC_STREAMOFF, &type) }
    for b in buffers { try? sys.munmap(b.address, length: b.length) }
    buffers = []
    try? sys.close(fd)
    fd = -1
    queuedBack = nil
    statistics.online = false
  }

  /// Stops streaming and closes the device.
  public func stop() { shutDown() }

  // MARK: - Frames

  /// Waits up to `timeoutMilliseconds` for the next frame.
  ///
  /// Returns `.frame` (valid until the next call), or `.noSignal` while the camera is lost or
  /// being reconnected. Returns `.noSignal` with reason "waiting" only after `timeoutMilliseconds`
  /// passed with no frame while the device is still within its `frameTimeoutMilliseconds`.
  public func nextFrame(timeoutMilliseconds: Int = 1000) -> CaptureEvent {
    if fd < 0 { return reconnect(timeoutMilliseconds: timeoutMilliseconds) }
    if let i = queuedBack {
      var buf = v4l2_buffer()
      buf.index = UInt32(i)
      buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
      buf.memory = V4L2_MEMORY_MMAP.rawValue
      queuedBack = nil
      do { try sys.ioctl(fd, ZSM_VIDIOC_QBUF, &buf) } catch { return lose(.ioctl(ZSM_VIDIOC_QBUF), error) }
    }
    let deadline = sys.now + Int64(timeoutMilliseconds) * 1_000_000
    while true {
      let now = sys.now
      let silentLimit = lastFrameAt + Int64(configuration.frameTimeoutMilliseconds) * 1_000_000
      if now >= silentLimit {
        return lose(.dequeueTimeout, .timedOut)
      }
      if now >= deadline { return .noSignal(reason: "waiting") }
      let wait = Int32(max(1, (min(deadline, silentLimit) - now + 999_999) / 1_000_000))
      let revents: Int16
      do {
        revents = try sys.poll(fd, events: Int16(POLLIN), timeoutMilliseconds: wait)
      } catch { return lose(.poll, error) }
      if revents == 0 { continue }
      if revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 && revents & Int16(POLLIN) == 0 {
        return lose(.poll, .noDevice)
      }
      var buf = v4l2_buffer()
      buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
      buf.memory = V4L2_MEMORY_MMAP.rawValue
      do {
        try sys.ioctl(fd, ZSM_VIDIOC_DQBUF, &buf)
      } catch {
        if error == .tryAgain { continue }
        return lose(.ioctl(ZSM_VIDIOC_DQBUF), error)
      }
      let index = Int(buf.index)
      guard index < buffers.count, let format else { return lose(.ioctl(ZSM_VIDIOC_DQBUF), .invalidArgument) }
      queuedBack = Int32(index)
      var dropped = 0
      if let last = lastSequence {
        let gap = Int(buf.sequence &- last)
        dropped = max(0, gap - 1)
      }
      lastSequence = buf.sequence
      lastFrameAt = sys.now
      statistics.framesCaptured += 1
      statistics.framesDropped += dropped
      backoffMilliseconds = configuration.reconnectInitialMilliseconds
      let used = min(Int(buf.bytesused == 0 ? UInt32(buffers[index].length) : buf.bytesused), buffers[index].length)
      let ts = Int64(buf.timestamp.tv_sec) * 1_000_000_000 + Int64(buf.timestamp.tv_usec) * 1000
      return .frame(
        CapturedFrame(
          data: UnsafeRawBufferPointer(start: buffers[index].address, count: used), format: format,
          sequence: buf.sequence, timestampNanoseconds: ts, droppedBefore: dropped))
    }
  }

  /// The device failed: close it and schedule a reconnection.
  func lose(_ call: DeviceCall, _ e: Errno) -> CaptureEvent {
    let err = DeviceError(path: path, call: call, errno: e)
    lastProblem = err.description
    shutDown()
    nextAttemptAt = sys.now + Int64(backoffMilliseconds) * 1_000_000
    return .noSignal(reason: lastProblem)
  }

  func reconnect(timeoutMilliseconds: Int) -> CaptureEvent {
    let now = sys.now
    if now < nextAttemptAt {
      let wait = min(nextAttemptAt - now, Int64(timeoutMilliseconds) * 1_000_000)
      sys.backend.sleep(nanoseconds: wait)
      if sys.now < nextAttemptAt { return .noSignal(reason: lastProblem) }
    }
    do {
      try start()
      statistics.reconnects += 1
      return nextFrame(timeoutMilliseconds: timeoutMilliseconds)
    } catch {
      lastProblem = error.description
      backoffMilliseconds = min(backoffMilliseconds * 2, configuration.reconnectMaximumMilliseconds)
      nextAttemptAt = sys.now + Int64(backoffMilliseconds) * 1_000_000
      return .noSignal(reason: lastProblem)
    }
  }
}

/// A fixed-size C char array (a tuple) as a String.
func cString<T>(_ tuple: T) -> String {
  withUnsafeBytes(of: tuple) { raw in
    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
  }
}
