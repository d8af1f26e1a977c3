import CV4L2

extension ScriptedSyscalls {
  /// Expects what `V4L2Camera.start()` calls, in order, with the replies of a healthy capture
  /// device: `open` gives `fd`; QUERYCAP says `card`, capture and streaming; S_FMT accepts the
  /// request (shown to `requested`); REQBUFS grants `buffers`; G_FMT reports `width` x `height`
  /// of `fourcc`, packed 4:2:2 (2 bytes a pixel); G_PARM reports `framesPerSecond`; buffer `i`
  /// is `2 * width * height` bytes at offset `i * 4096` (shown to `queried` as asked for), each
  /// mapped and queued; STREAMON. For tests of the camera and of what runs on it.
  public func expectCaptureStart(
    path: String = "/dev/video0", fd: Int = 3, card: String = "vivid", width: Int, height: Int,
    fourcc: FourCC = .yuyv, buffers: Int, framesPerSecond: Int = 30,
    requested: @escaping (v4l2_format) -> Void = { _ in },
    queried: @escaping (_ index: Int, _ buffer: v4l2_buffer) -> Void = { _, _ in }
  ) {
    let (w, h) = (UInt32(width), UInt32(height))
    expect("open", path: path, .value(fd))
    expect(
      "ioctl", request: ZSM_VIDIOC_QUERYCAP,
      .fill { p in
        let cap = p.assumingMemoryBound(to: v4l2_capability.self)
        cap.pointee.capabilities = UInt32(V4L2_CAP_VIDEO_CAPTURE) | UInt32(V4L2_CAP_STREAMING)
        withUnsafeMutableBytes(of: &cap.pointee.card) { $0.copyBytes(from: Array(card.utf8.prefix(31))) }
        return 0
      })
    expect(
      "ioctl", request: ZSM_VIDIOC_S_FMT,
      .fill { p in
        requested(p.assumingMemoryBound(to: v4l2_format.self).pointee)
        return 0
      })
    expect(
      "ioctl", request: ZSM_VIDIOC_REQBUFS,
      .fill { p in
        p.assumingMemoryBound(to: v4l2_requestbuffers.self).pointee.count = UInt32(buffers)
        return 0
      })
    expect(
      "ioctl", request: ZSM_VIDIOC_G_FMT,
      .fill { p in
        let f = p.assumingMemoryBound(to: v4l2_format.self)
        f.pointee.fmt.pix.width = w
        f.pointee.fmt.pix.height = h
        f.pointee.fmt.pix.pixelformat = fourcc.rawValue
        f.pointee.fmt.pix.bytesperline = 2 * w
        f.pointee.fmt.pix.sizeimage = 2 * w * h
        return 0
      })
    expect(
      "ioctl", request: ZSM_VIDIOC_G_PARM,
      .fill { p in
        p.assumingMemoryBound(to: v4l2_streamparm.self).pointee.parm.capture.timeperframe = v4l2_fract(
          numerator: 1, denominator: UInt32(framesPerSecond))
        return 0
      })
    for i in 0..<buffers {
      expect(
        "ioctl", request: ZSM_VIDIOC_QUERYBUF,
        .fill { p in
          let b = p.assumingMemoryBound(to: v4l2_buffer.self)
          queried(i, b.pointee)
          b.pointee.length = 2 * w * h
          b.pointee.m.offset = UInt32(i * 4096)
          return 0
        })
      expect("mmap", .value(0))
      expect("ioctl", request: ZSM_VIDIOC_QBUF, .value(0))
    }
    expect("ioctl", request: ZSM_VIDIOC_STREAMON, .value(0))
  }
}
