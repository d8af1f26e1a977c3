import CV4L2

/// What `zsm devices` prints about one capture device.
public struct CameraDescription: Sendable {
  public struct Size: Sendable {
    public var width: Int
    public var height: Int
    /// Frame rates offered at this size, frames per second (from discrete intervals, or the
    /// ends of a stepwise range).
    public var framesPerSecond: [Double]
  }

  public struct Format: Sendable {
    public var fourcc: FourCC
    public var description: String
    /// Produced by libv4lconvert from another format (e.g. YUYV from MJPEG).
    public var emulated: Bool
    public var sizes: [Size]
    /// A stepwise/continuous size range instead of a list: min and max.
    public var sizeRange: (minWidth: Int, minHeight: Int, maxWidth: Int, maxHeight: Int)?
  }

  public var path: String
  public var driver: String
  public var card: String
  public var busInfo: String
  public var formats: [Format]
}

extension V4L2Camera {
  /// Capture devices under /dev (video*), with formats, sizes and frame rates. Devices that
  /// cannot be opened are listed in `problems` instead.
  public static func enumerate(sys: Sys = .live) -> (cameras: [CameraDescription], problems: [DeviceError]) {
    var cameras: [CameraDescription] = []
    var problems: [DeviceError] = []
    let names = sys.backend.directoryEntries("/dev").filter { $0.hasPrefix("video") }
      .sorted { (Int($0.dropFirst(5)) ?? 0) < (Int($1.dropFirst(5)) ?? 0) }
    for name in names {
      let path = "/dev/" + name
      do {
        if let c = try describe(path, sys: sys) { cameras.append(c) }
      } catch { problems.append(error) }
    }
    return (cameras, problems)
  }

  /// Describes one device; nil if it is not a video capture device (a metadata node, an encoder).
  public static func describe(_ path: String, sys: Sys = .live) throws(DeviceError) -> CameraDescription? {
    let fd: Int32
    do { fd = try sys.open(path, flags: O_RDWR | O_NONBLOCK, kind: .v4l2) } catch {
      let hint = error == .permissionDenied ? DeviceHints.permission(for: path, sys) : nil
      throw DeviceError(path: path, call: .open, errno: error, hint: hint)
    }
    defer { try? sys.close(fd) }
    var cap = v4l2_capability()
    do { try sys.ioctl(fd, ZSM_VIDIOC_QUERYCAP, &cap) } catch {
      throw DeviceError(path: path, call: .ioctl(ZSM_VIDIOC_QUERYCAP), errno: error)
    }
    let caps = (cap.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS)) != 0 ? cap.device_caps : cap.capabilities
    guard caps & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0 else { return nil }
    var formats: [CameraDescription.Format] = []
    var fi: UInt32 = 0
    while fi < 256 {
      var desc = v4l2_fmtdesc()
      desc.index = fi
      desc.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
      guard (try? sys.ioctl(fd, ZSM_VIDIOC_ENUM_FMT, &desc)) != nil else { break }
      var format = CameraDescription.Format(
        fourcc: FourCC(rawValue: desc.pixelformat), description: cString(desc.description),
        emulated: desc.flags & UInt32(V4L2_FMT_FLAG_EMULATED) != 0, sizes: [], sizeRange: nil)
      var si: UInt32 = 0
      while si < 256 {
        var size = v4l2_frmsizeenum()
        size.index = si
        size.pixel_format = desc.pixelformat
        guard (try? sys.ioctl(fd, ZSM_VIDIOC_ENUM_FRAMESIZES, &size)) != nil else { break }
        if size.type == V4L2_FRMSIZE_TYPE_DISCRETE.rawValue {
          let w = size.discrete.width
          let h = size.discrete.height
          format.sizes.append(
            CameraDescription.Size(
              width: Int(w), height: Int(h), framesPerSecond: rates(fd, desc.pixelformat, w, h, sys)))
        } else {
          let s = size.stepwise
          format.sizeRange = (Int(s.min_width), Int(s.min_height), Int(s.max_width), Int(s.max_height))
          break
        }
        si += 1
      }
      formats.append(format)
      fi += 1
    }
    return CameraDescription(
      path: path, driver: cString(cap.driver), card: cString(cap.card), busInfo: cString(cap.bus_info),
      formats: formats)
  }

  static func rates(_ fd: Int32, _ fourcc: UInt32, _ w: UInt32, _ h: UInt32, _ sys: Sys) -> [Double] {
    var out: [Double] = []
    var i: UInt32 = 0
    while i < 64 {
      var iv = v4l2_frmivalenum()
      iv.index = i
      iv.pixel_format = fourcc
      iv.width = w
      iv.height = h
      guard (try? sys.ioctl(fd, ZSM_VIDIOC_ENUM_FRAMEINTERVALS, &iv)) != nil else { break }
      if iv.type == V4L2_FRMIVAL_TYPE_DISCRETE.rawValue {
        if iv.discrete.numerator > 0 { out.append(Double(iv.discrete.denominator) / Double(iv.discrete.numerator)) }
      } else {
        let s = iv.stepwise
        if s.min.numerator > 0 { out.append(Double(s.min.denominator) / Double(s.min.numerator)) }
        if s.max.numerator > 0 { out.append(Double(s.max.denominator) / Double(s.max.numerator)) }
        break
      }
      i += 1
    }
    return out
  }
}
