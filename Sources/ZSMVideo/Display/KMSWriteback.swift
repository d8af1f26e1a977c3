import CDRM
import CV4L2

extension KMSCard {
  /// Property ids by name of a KMS object (DRM_IOCTL_MODE_OBJ_GETPROPERTIES + GETPROPERTY).
  public func propertyIDs(object: UInt32, type: UInt32) throws(DeviceError) -> [String: UInt32] {
    var q = drm_mode_obj_get_properties()
    q.obj_id = object
    q.obj_type = type
    try ioctl(ZSM_DRM_IOCTL_MODE_OBJ_GETPROPERTIES, &q)
    let n = Int(q.count_props)
    let ids = UnsafeMutablePointer<UInt32>.allocate(capacity: max(n, 1))
    let values = UnsafeMutablePointer<UInt64>.allocate(capacity: max(n, 1))
    defer {
      ids.deallocate()
      values.deallocate()
    }
    var q2 = drm_mode_obj_get_properties()
    q2.obj_id = object
    q2.obj_type = type
    q2.count_props = q.count_props
    q2.props_ptr = UInt64(UInt(bitPattern: ids))
    q2.prop_values_ptr = UInt64(UInt(bitPattern: values))
    try ioctl(ZSM_DRM_IOCTL_MODE_OBJ_GETPROPERTIES, &q2)
    var out: [String: UInt32] = [:]
    for i in 0..<min(n, Int(q2.count_props)) {
      var p = drm_mode_get_property()
      p.prop_id = ids[i]
      try ioctl(ZSM_DRM_IOCTL_MODE_GETPROPERTY, &p)
      out[cString(p.name)] = ids[i]
    }
    return out
  }
}

extension KMSDisplay {
  /// Reads back what the CRTC scans out through the card's writeback connector (vkms has
  /// one): an atomic commit attaching a fresh XRGB8888 framebuffer, then a wait on the
  /// out-fence. Returns the pixels (0x00RRGGBB, X byte cleared), row-major `mode.width` wide.
  public func writebackCapture(timeoutMilliseconds: Int32 = 3000) throws(DeviceError) -> [UInt32] {
    try drain()
    try card.setClientCap(UInt64(DRM_CLIENT_CAP_ATOMIC))
    try card.setClientCap(ZSM_DRM_CLIENT_CAP_WRITEBACK_CONNECTORS)
    let res = try card.resources()
    var wb: UInt32?
    for id in res.connectors where try card.connector(id).type == ZSM_DRM_MODE_CONNECTOR_WRITEBACK {
      wb = id
      break
    }
    guard let wb else {
      throw DeviceError(
        path: path, call: .ioctl(ZSM_DRM_IOCTL_MODE_GETRESOURCES), errno: .noDevice, hint: "no writeback connector")
    }
    let props = try card.propertyIDs(object: wb, type: UInt32(DRM_MODE_OBJECT_CONNECTOR))
    guard let pCrtc = props["CRTC_ID"], let pFB = props["WRITEBACK_FB_ID"],
      let pFence = props["WRITEBACK_OUT_FENCE_PTR"]
    else {
      throw DeviceError(
        path: path, call: .ioctl(ZSM_DRM_IOCTL_MODE_OBJ_GETPROPERTIES), errno: .invalidArgument,
        hint: "writeback connector lacks properties (have \(props.keys.sorted()))")
    }
    let out = try createBuffer(mode.width, mode.height)
    defer {
      try? sys.munmap(out.map, length: out.size)
      var id = out.fb
      _ = try? sys.ioctl(card.fd, ZSM_DRM_IOCTL_MODE_RMFB, &id)
      var d = drm_mode_destroy_dumb(handle: out.handle)
      _ = try? sys.ioctl(card.fd, ZSM_DRM_IOCTL_MODE_DESTROY_DUMB, &d)
    }
    out.map.initializeMemory(as: UInt8.self, repeating: 0x5A, count: out.size)
    let fence = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    defer { fence.deallocate() }
    fence.pointee = -1
    var objs: [UInt32] = [wb]
    var counts: [UInt32] = [3]
    var propIDs: [UInt32] = [pCrtc, pFB, pFence]
    var values: [UInt64] = [UInt64(crtcID), UInt64(out.fb), UInt64(UInt(bitPattern: fence))]
    var req = drm_mode_atomic()
    req.flags = UInt32(DRM_MODE_ATOMIC_ALLOW_MODESET)
    req.count_objs = 1
    var failure: DeviceError?
    objs.withUnsafeMutableBufferPointer { o in
      counts.withUnsafeMutableBufferPointer { c in
        propIDs.withUnsafeMutableBufferPointer { p in
          values.withUnsafeMutableBufferPointer { v in
            req.objs_ptr = UInt64(UInt(bitPattern: o.baseAddress))
            req.count_props_ptr = UInt64(UInt(bitPattern: c.baseAddress))
            req.props_ptr = UInt64(UInt(bitPattern: p.baseAddress))
            req.prop_values_ptr = UInt64(UInt(bitPattern: v.baseAddress))
            do throws(DeviceError) { try card.ioctl(ZSM_DRM_IOCTL_MODE_ATOMIC, &req) } catch { failure = error }
          }
        }
      }
    }
    if let failure { throw failure }
    let fd = fence.pointee
    guard fd >= 0 else {
      throw DeviceError(
        path: path, call: .ioctl(ZSM_DRM_IOCTL_MODE_ATOMIC), errno: .invalidArgument, hint: "no out-fence")
    }
    defer { try? sys.close(fd) }
    let r: Int16
    do { r = try sys.poll(fd, events: Int16(POLLIN), timeoutMilliseconds: timeoutMilliseconds) } catch {
      throw DeviceError(path: path, call: .poll, errno: error, hint: "writeback fence")
    }
    guard r != 0 else {
      throw DeviceError(path: path, call: .poll, errno: .timedOut, hint: "writeback fence not signalled")
    }
    var pixels = [UInt32](repeating: 0, count: mode.width * mode.height)
    for y in 0..<mode.height {
      let row = (out.map + y * out.pitch).assumingMemoryBound(to: UInt32.self)
      for x in 0..<mode.width { pixels[y * mode.width + x] = row[x] & 0x00FF_FFFF }
    }
    return pixels
  }
}
