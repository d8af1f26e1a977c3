import Glibc

/// SHA-256 (FIPS 180-4), streaming: `update` with any number of buffers, then `finalize`.
///
/// A calibration table is only valid for the exact checkpoint it was measured on, so tables
/// are keyed by the checkpoint's SHA-256 (the same digest `sha256sum` prints). There is no
/// Foundation or CryptoKit on the Linux targets, hence this small implementation. It works on
/// the caller's bytes in place, 64-byte block by block, and holds no heap storage, so hashing a
/// large checkpoint costs one pass over it and no allocation per block.
public struct SHA256: Sendable {
  /// The chaining value H0...H7.
  private var state: SIMD8<UInt32> = SHA256.initialState
  /// Bytes of an incomplete block carried over to the next `update`.
  private var pending = SIMD64<UInt8>()
  private var pendingCount = 0
  /// Bytes hashed so far, for the length in the padding.
  private var length: UInt64 = 0

  private static let initialState = SIMD8<UInt32>(
    0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19)

  /// The round constants K0...K63.
  private static let roundConstants: [UInt32] = [
    0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
    0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
    0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
    0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
    0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
    0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
    0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
    0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
  ]

  public init() {}

  /// Hashes `bytes` after everything given before.
  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    length &+= UInt64(bytes.count)
    var offset = 0
    var chaining = state
    if pendingCount > 0 {
      // Complete the carried-over block first.
      let take = Swift.min(64 - pendingCount, bytes.count)
      let start = pendingCount
      withUnsafeMutableBytes(of: &pending) {
        $0.baseAddress.unsafelyUnwrapped.advanced(by: start).copyMemory(from: base, byteCount: take)
      }
      pendingCount += take
      offset = take
      guard pendingCount == 64 else { return }
      withUnsafeBytes(of: pending) { SHA256.compress(&chaining, $0.baseAddress.unsafelyUnwrapped, blocks: 1) }
      pendingCount = 0
    }
    let blocks = (bytes.count - offset) / 64
    if blocks > 0 {
      SHA256.compress(&chaining, base + offset, blocks: blocks)
      offset += blocks * 64
    }
    state = chaining
    let rest = bytes.count - offset
    if rest > 0 {
      withUnsafeMutableBytes(of: &pending) {
        $0.baseAddress.unsafelyUnwrapped.copyMemory(from: base + offset, byteCount: rest)
      }
      pendingCount = rest
    }
  }

  /// Hashes the bytes of `bytes` after everything given before.
  public mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  /// The 32-byte digest of everything given to `update`. The hasher starts over afterwards.
  public mutating func finalize() -> [UInt8] {
    let bitLength = length &* 8
    // 0x80, zeros up to 56 mod 64, then the length in bits as a big-endian 64-bit number.
    let zeros = (pendingCount < 56 ? 55 : 119) - pendingCount
    var padding = [UInt8](repeating: 0, count: 1 + zeros + 8)
    padding[0] = 0x80
    for i in 0..<8 { padding[1 + zeros + i] = UInt8(truncatingIfNeeded: bitLength >> (56 - 8 * UInt64(i))) }
    update(padding)
    var digest = [UInt8](repeating: 0, count: 32)
    for word in 0..<8 {
      for byte in 0..<4 { digest[4 * word + byte] = UInt8(truncatingIfNeeded: state[word] >> (24 - 8 * UInt32(byte))) }
    }
    self = SHA256()
    return digest
  }

  /// The digest of `bytes`.
  public static func hash(_ bytes: [UInt8]) -> [UInt8] {
    var hasher = SHA256()
    hasher.update(bytes)
    return hasher.finalize()
  }

  /// `digest` as lowercase hexadecimal, as `sha256sum` prints it.
  public static func hex(_ digest: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(2 * digest.count)
    for byte in digest {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 15)])
    }
    return String(decoding: text, as: UTF8.self)
  }

  /// The lowercase hexadecimal SHA-256 of the file at `path`, read 1 MiB at a time (a
  /// checkpoint is never held in memory whole just to be hashed).
  public static func hexDigest(ofFileAt path: String) throws(CalibrationError) -> String {
    var hasher = SHA256()
    do throws(FileIOFailure) {
      try FileIO.readChunks(path: path, chunkSize: 1 << 20) { hasher.update($0) }
    } catch {
      throw CalibrationError(.fileAccess, "\(path): cannot hash the file: \(error.message)")
    }
    return hex(hasher.finalize())
  }

  @inline(__always)
  private static func rotateRight(_ x: UInt32, _ n: UInt32) -> UInt32 { (x &>> n) | (x &<< (32 &- n)) }

  /// Runs the compression function over `blocks` consecutive 64-byte blocks at `data`.
  private static func compress(_ chaining: inout SIMD8<UInt32>, _ data: UnsafeRawPointer, blocks: Int) {
    roundConstants.withUnsafeBufferPointer { constants in
      let k = constants.baseAddress.unsafelyUnwrapped
      withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { schedule in
        let w = schedule.baseAddress.unsafelyUnwrapped
        var h = chaining
        for block in 0..<blocks {
          let bytes = data + 64 &* block
          for i in 0..<16 {
            w[i] = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 4 &* i, as: UInt32.self))
          }
          for i in 16..<64 {
            let a = w[i &- 15]
            let b = w[i &- 2]
            let s0 = rotateRight(a, 7) ^ rotateRight(a, 18) ^ (a &>> 3)
            let s1 = rotateRight(b, 17) ^ rotateRight(b, 19) ^ (b &>> 10)
            w[i] = w[i &- 16] &+ s0 &+ w[i &- 7] &+ s1
          }
          var (a, b, c, d) = (h[0], h[1], h[2], h[3])
          var (e, f, g, hh) = (h[4], h[5], h[6], h[7])
          for i in 0..<64 {
            let s1 = rotateRight(e, 6) ^ rotateRight(e, 11) ^ rotateRight(e, 25)
            let choice = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ choice &+ k[i] &+ w[i]
            let s0 = rotateRight(a, 2) ^ rotateRight(a, 13) ^ rotateRight(a, 22)
            let majority = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ majority
            hh = g
            g = f
            f = e
            e = d &+ t1
            d = c
            c = b
            b = a
            a = t1 &+ t2
          }
          h &+= SIMD8(a, b, c, d, e, f, g, hh)
        }
        chaining = h
      }
    }
  }
}
