import CDRM
import CV4L2

/// A display mode (`drm_mode_modeinfo`), kept whole so it can be handed back to the kernel.
public struct DisplayMode: Sendable, CustomStringConvertible {
  public var info: drm_mode_modeinfo
  public init(info: drm_mode_modeinfo) { self.info = info }
  public var width: Int { Int(info.hdisplay) }
  public var height: Int { Int(info.vdisplay) }
  /// Refresh rate in Hz as the kernel reports it (rounded).
  public var refresh: Int { Int(info.vrefresh) }
  public var preferred: Bool { info.type & UInt32(DRM_MODE_TYPE_PREFERRED) != 0 }
  public var name: String { cString(info.name) }
  public var description: String { "\(width)x\(height)@\(refresh)" + (preferred ? " (preferred)" : "") }

  /// Exact refresh rate from the pixel clock (kHz) and totals.
  public var exactRefresh: Double {
    let total = Double(info.htotal) * Double(info.vtotal)
    return total > 0 ? Double(info.clock) * 1000 / total : Double(info.vrefresh)
  }
}

/// One connector and what it can show.
public struct ConnectorDescription: Sendable {
  public var id: UInt32
  public var name: String
  public var connected: Bool
  public var modes: [DisplayMode]
  public var encoders: [UInt32]
  public var currentEncoder: UInt32
  public var type: UInt32
}

/// A DRM card's KMS resources.
public struct CardDescription: Sendable {
  public var path: String
  public var driver: String
  public var crtcs: [UInt32]
  public var connectors: [ConnectorDescription]
}

let connectorTypeNames = [
  "Unknown", "VGA", "DVI-I", "DVI-D", "DVI-A", "Composite", "SVIDEO", "LVDS", "Component", "DIN", "DP", "HDMI-A",
  "HDMI-B", "TV", "eDP", "Virtual", "DSI", "DPI", "Writeback", "SPI", "USB",
]

/// Small throwing steps from a card to connector, mode and CRTC (in the manner of kmscube's
/// drm-common.c, without sentinels).
public struct KMSCard {
  public let path: String
  public let fd: Int32
  let sys: Sys

  func fail(_ call: DeviceCall, _ e: Errno, hint: String? = nil) -> DeviceError {
    var hint = hint
    if hint == nil && e == .permissionDenied { hint = DeviceHints.permission(for: path, sys) }
    return DeviceError(path: path, call: call, errno: e, hint: hint)
  }

  func ioctl<T>(_ request: UInt, _ arg: inout T) throws(DeviceError) {
    do { try sys.ioctl(fd, request, &arg) } catch { throw fail(.ioctl(request), error) }
  }

  /// Opens a card read-write.
  public static func open(_ path: String, sys: Sys = .live) throws(DeviceError) -> KMSCard {
    do {
      let fd = try sys.open(path, flags: O_RDWR, kind: .drm)
      return KMSCard(path: path, fd: fd, sys: sys)
    } catch {
      let hint = error == .permissionDenied ? DeviceHints.permission(for: path, sys) : nil
      throw DeviceError(path: path, call: .open, errno: error, hint: hint)
    }
  }

  public func close() { try? sys.close(fd) }

  /// The kernel driver's name ("vkms", "i915"), from DRM_IOCTL_VERSION.
  public func driverName() throws(DeviceError) -> String {
    var v = drm_version()
    try ioctl(ZSM_DRM_IOCTL_VERSION, &v)
    let n = Int(v.name_len)
    guard n > 0, n < 256 else { return "" }
    let name = UnsafeMutablePointer<CChar>.allocate(capacity: n + 1)
    defer { name.deallocate() }
    name.initialize(repeating: 0, count: n + 1)
    var v2 = drm_version()
    v2.name_len = v.name_len
    v2.name = name
    try ioctl(ZSM_DRM_IOCTL_VERSION, &v2)
    return String(cString: name)
  }

  /// Whether the card supports dumb buffers (every KMS driver should).
  public func supportsDumbBuffers() -> Bool {
    var cap = drm_get_cap(capability: UInt64(DRM_CAP_DUMB_BUFFER), value: 0)
    return (try? ioctl(ZSM_DRM_IOCTL_GET_CAP, &cap)) != nil && cap.value != 0
  }

  /// Asks for a client capability (atomic, writeback connectors, universal planes).
  public func setClientCap(_ cap: UInt64, _ value: UInt64 = 1) throws(DeviceError) {
    var c = drm_set_client_cap(capability: cap, value: value)
    try ioctl(ZSM_DRM_IOCTL_SET_CLIENT_CAP, &c)
  }

  /// CRTC and connector ids (DRM_IOCTL_MODE_GETRESOURCES, two-call pattern).
  public func resources() throws(DeviceError) -> (crtcs: [UInt32], connectors: [UInt32], encoders: [UInt32]) {
    for _ in 0..<4 {
      var res = drm_mode_card_res()
      try ioctl(ZSM_DRM_IOCTL_MODE_GETRESOURCES, &res)
      let nc = Int(res.count_crtcs)
      let nn = Int(res.count_connectors)
      let ne = Int(res.count_encoders)
      var crtcs = [UInt32](repeating: 0, count: max(nc, 1))
      var conns = [UInt32](repeating: 0, count: max(nn, 1))
      var encs = [UInt32](repeating: 0, count: max(ne, 1))
      var res2 = drm_mode_card_res()
      res2.count_crtcs = res.count_crtcs
      res2.count_connectors = res.count_connectors
      res2.count_encoders = res.count_encoders
      var err: DeviceError?
      crtcs.withUnsafeMutableBufferPointer { c in
        conns.withUnsafeMutableBufferPointer { n in
          encs.withUnsafeMutableBufferPointer { e in
            res2.crtc_id_ptr = UInt64(UInt(bitPattern: c.baseAddress))
            res2.connector_id_ptr = UInt64(UInt(bitPattern: n.baseAddress))
            res2.encoder_id_ptr = UInt64(UInt(bitPattern: e.baseAddress))
            do throws(DeviceError) { try ioctl(ZSM_DRM_IOCTL_MODE_GETRESOURCES, &res2) } catch { err = error }
          }
        }
      }
      if let err { throw err }
      // Hot-plug between the calls can change the counts: try again.
      if res2.count_crtcs != res.count_crtcs || res2.count_connectors != res.count_connectors
        || res2.count_encoders != res.count_encoders
      {
        continue
      }
      return (Array(crtcs.prefix(nc)), Array(conns.prefix(nn)), Array(encs.prefix(ne)))
    }
    throw fail(.ioctl(ZSM_DRM_IOCTL_MODE_GETRESOURCES), .tryAgain, hint: "resources kept changing")
  }

  /// One connector with its modes (DRM_IOCTL_MODE_GETCONNECTOR, two-call pattern; probes).
  public func connector(_ id: UInt32) throws(DeviceError) -> ConnectorDescription {
    for _ in 0..<4 {
      var c = drm_mode_get_connector()
      c.connector_id = id
      try ioctl(ZSM_DRM_IOCTL_MODE_GETCONNECTOR, &c)
      let nm = Int(c.count_modes)
      let ne = Int(c.count_encoders)
      var modes = [drm_mode_modeinfo](repeating: drm_mode_modeinfo(), count: max(nm, 1))
      var encs = [UInt32](repeating: 0, count: max(ne, 1))
      var c2 = drm_mode_get_connector()
      c2.connector_id = id
      c2.count_modes = c.count_modes
      c2.count_encoders = c.count_encoders
      var err: DeviceError?
      modes.withUnsafeMutableBufferPointer { m in
        encs.withUnsafeMutableBufferPointer { e in
          c2.modes_ptr = UInt64(UInt(bitPattern: m.baseAddress))
          c2.encoders_ptr = UInt64(UInt(bitPattern: e.baseAddress))
          do throws(DeviceError) { try ioctl(ZSM_DRM_IOCTL_MODE_GETCONNECTOR, &c2) } catch { err = error }
        }
      }
      if let err { throw err }
      if c2.count_modes != c.count_modes || c2.count_encoders != c.count_encoders { continue }
      let typeName =
        Int(c2.connector_type) < connectorTypeNames.count
        ? connectorTypeNames[Int(c2.connector_type)] : "Type\(c2.connector_type)"
      return ConnectorDescription(
        id: id, name: "\(typeName)-\(c2.connector_type_id)", connected: c2.connection == 1,
        modes: modes.prefix(nm).map { DisplayMode(info: $0) }, encoders: Array(encs.prefix(ne)),
        currentEncoder: c2.encoder_id, type: c2.connector_type)
    }
    throw fail(.ioctl(ZSM_DRM_IOCTL_MODE_GETCONNECTOR), .tryAgain, hint: "connector \(id) kept changing")
  }

  public func encoder(_ id: UInt32) throws(DeviceError) -> drm_mode_get_encoder {
    var e = drm_mode_get_encoder()
    e.encoder_id = id
    try ioctl(ZSM_DRM_IOCTL_MODE_GETENCODER, &e)
    return e
  }

  public func crtc(_ id: UInt32) throws(DeviceError) -> drm_mode_crtc {
    var c = drm_mode_crtc()
    c.crtc_id = id
    try ioctl(ZSM_DRM_IOCTL_MODE_GETCRTC, &c)
    return c
  }

  /// The whole card, for `zsm devices`.
  public func describe() throws(DeviceError) -> CardDescription {
    let r = try resources()
    var conns: [ConnectorDescription] = []
    for id in r.connectors { conns.append(try connector(id)) }
    return CardDescription(path: path, driver: (try? driverName()) ?? "", crtcs: r.crtcs, connectors: conns)
  }

  /// A CRTC that can drive `connector`: the one its encoder already uses if any, else the
  /// first in the encoders' `possible_crtcs` masks (bit i = i-th CRTC of GETRESOURCES).
  public func crtc(for connector: ConnectorDescription, crtcs: [UInt32]) throws(DeviceError) -> UInt32 {
    if connector.currentEncoder != 0, let e = try? encoder(connector.currentEncoder), e.crtc_id != 0 {
      return e.crtc_id
    }
    for id in connector.encoders {
      let e = try encoder(id)
      for (i, c) in crtcs.enumerated() where e.possible_crtcs & (1 << UInt32(i)) != 0 { return c }
    }
    throw fail(
      .ioctl(ZSM_DRM_IOCTL_MODE_GETENCODER), .noDevice, hint: "no CRTC can drive connector \(connector.name)")
  }

  /// Cards under /dev/dri.
  public static func cardPaths(sys: Sys = .live) -> [String] {
    sys.backend.directoryEntries("/dev/dri").filter { $0.hasPrefix("card") }
      .sorted { (Int($0.dropFirst(4)) ?? 0) < (Int($1.dropFirst(4)) ?? 0) }.map { "/dev/dri/" + $0 }
  }
}

/// Picks a mode: the user's ("1280x720" or "1280x720@60"), else the preferred one, else the largest.
public func chooseMode(_ modes: [DisplayMode], requested: String?) -> DisplayMode? {
  if let requested {
    let parts = requested.split(separator: "@")
    guard let size = parts.first, parts.count <= 2 else { return nil }
    let wh = size.split(separator: "x")
    guard wh.count == 2, let w = Int(wh[0]), let h = Int(wh[1]) else { return nil }
    let hz = parts.count > 1 ? Int(parts[1]) : nil
    return modes.first { $0.width == w && $0.height == h && (hz == nil || $0.refresh == hz) }
  }
  return modes.first(where: \.preferred) ?? modes.max { $0.width * $0.height < $1.width * $1.height }
}
