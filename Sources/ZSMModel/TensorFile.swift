import ZSMRuntime

/// One float32 tensor in the fixtures' `.bin` format (`Tests/Fixtures/README.md`).
///
/// Layout, integers little-endian: the magic `ZSMRAW01`; a uint32 header length; a compact
/// UTF-8 JSON header with `name`, `dtype` (`"float32"`), `endianness` (`"little"`), `shape`,
/// `layout`, `count` and `data_offset` (absolute), space-padded so the data starts at a
/// multiple of 16; then `count` float32 values in C order.
public struct TensorFile: Equatable, Sendable {
  /// The tensor's name, e.g. `input`.
  public var name: String
  /// The shape, outermost axis first.
  public var shape: [Int]
  /// A free-form description of the axes, e.g. `B,N,C=3(RGB),H,W`.
  public var layout: String
  /// The values in C order (last axis fastest).
  public var data: [Float]

  public init(name: String, shape: [Int], layout: String, data: [Float]) {
    self.name = name
    self.shape = shape
    self.layout = layout
    self.data = data
  }

  static let magic = Array("ZSMRAW01".utf8)

  // MARK: - Reading

  /// Reads the `.bin` file at `path`.
  public static func read(path: String) throws(TensorFileError) -> TensorFile {
    let bytes: [UInt8]
    do throws(FileIOFailure) {
      bytes = try FileIO.readAll(path: path)
    } catch {
      throw TensorFileError(.fileAccess, error.message, file: path)
    }
    do throws(TensorFileError) {
      return try decode(bytes)
    } catch {
      throw error.attributed(to: path)
    }
  }

  /// Decodes a `.bin` file held in memory.
  public static func decode(_ bytes: [UInt8]) throws(TensorFileError) -> TensorFile {
    guard bytes.count >= 12 else {
      throw TensorFileError(.truncated, "file has \(bytes.count) bytes; the magic and header length need 12")
    }
    guard bytes.starts(with: magic) else {
      let found = String(
        decoding: bytes.prefix(8).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
      throw TensorFileError(.badMagic, "file starts with \"\(found)\"; expected the magic \"ZSMRAW01\"")
    }
    let headerLength = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
    guard headerLength <= bytes.count - 12 else {
      throw TensorFileError(
        .truncated, "header of \(headerLength) bytes does not fit in the \(bytes.count - 12) bytes after byte 12")
    }
    let header: [String: JSONValue]
    do throws(JSONParseError) {
      guard case .object(let members) = try MiniJSON.parse(Array(bytes[12..<(12 + headerLength)])) else {
        throw JSONParseError(message: "the header is not a JSON object")
      }
      header = members
    } catch {
      throw TensorFileError(.malformedHeader, "bad JSON header: \(error.message)")
    }
    let fields = HeaderFields(header)
    let name = try fields.string("name")
    let dtype = try fields.string("dtype")
    guard dtype == "float32" else {
      throw TensorFileError(.unsupportedDType, "tensor \(name) has dtype \(dtype); expected float32")
    }
    let endianness = try fields.string("endianness")
    guard endianness == "little" else {
      throw TensorFileError(.unsupportedDType, "tensor \(name) is \(endianness)-endian; expected little")
    }
    let shape = try fields.integers("shape")
    let count = try fields.integer("count")
    let offset = try fields.integer("data_offset")
    var product = 1
    for size in shape {
      let (next, overflow) = product.multipliedReportingOverflow(by: size)
      guard size >= 0, !overflow else {
        throw TensorFileError(.shapeMismatch, "tensor \(name) has an invalid shape \(shape)")
      }
      product = next
    }
    guard product == count else {
      throw TensorFileError(
        .shapeMismatch, "tensor \(name) has shape \(shape) (\(product) elements) but count \(count)")
    }
    guard offset >= 12 + headerLength, offset <= bytes.count else {
      throw TensorFileError(
        offset > bytes.count ? .truncated : .malformedHeader,
        "tensor \(name) has data_offset \(offset); expected \(12 + headerLength)...\(bytes.count)")
    }
    guard count <= (bytes.count - offset) / 4 else {
      throw TensorFileError(
        .truncated,
        "tensor \(name) needs \(count) float32 values from byte \(offset); the file has \(bytes.count - offset) bytes there"
      )
    }
    guard offset + 4 * count == bytes.count else {
      throw TensorFileError(
        .malformedHeader, "tensor \(name) ends at byte \(offset + 4 * count) but the file has \(bytes.count) bytes")
    }
    let data = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      bytes.withUnsafeBytes { raw in
        for index in 0..<count {
          let bits = raw.loadUnaligned(fromByteOffset: offset + 4 * index, as: UInt32.self)
          buffer[index] = Float(bitPattern: UInt32(littleEndian: bits))
        }
      }
      initialized = count
    }
    return TensorFile(name: name, shape: shape, layout: try fields.optionalString("layout") ?? "", data: data)
  }

  // MARK: - Writing

  /// The file's bytes, with the header laid out as in the fixtures (compact JSON, key order
  /// name, dtype, endianness, shape, layout, count, data_offset; space padding).
  public func encoded() throws(TensorFileError) -> [UInt8] {
    var bytes = try encodedHeader()
    bytes.reserveCapacity(bytes.count + 4 * data.count)
    for value in data {
      let bits = value.bitPattern
      for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> shift)) }
    }
    return bytes
  }

  /// Magic, header length and padded JSON header: everything before the data.
  func encodedHeader() throws(TensorFileError) -> [UInt8] {
    var count: Int? = 1
    for size in shape {
      let product = count.map { $0.multipliedReportingOverflow(by: size) }
      count = size >= 0 && product?.overflow == false ? product?.partialValue : nil
    }
    guard let count, count == data.count else {
      throw TensorFileError(.shapeMismatch, "tensor \(name) has shape \(shape) but \(data.count) values")
    }
    let shapeText = shape.map(String.init).joined(separator: ",")
    let prefix =
      "{\"name\":\(Self.quoted(name)),\"dtype\":\"float32\",\"endianness\":\"little\",\"shape\":[\(shapeText)],"
      + "\"layout\":\(Self.quoted(layout)),\"count\":\(count),\"data_offset\":"
    var offset = 0
    var header = ""
    repeat {  // the offset's digits change the header length; iterate to the fixed point
      header = prefix + "\(offset)}"
      let next = (12 + header.utf8.count + 15) / 16 * 16
      if next == offset { break }
      offset = next
    } while true
    var bytes = Self.magic
    let headerLength = UInt32(offset - 12)
    for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: headerLength >> shift)) }
    bytes += Array(header.utf8)
    bytes += [UInt8](repeating: 0x20, count: offset - bytes.count)
    return bytes
  }

  /// Writes the file to `path`, replacing any file there.
  /// On little-endian machines the values are written straight from `data` (no second copy
  /// of a possibly large tensor).
  public func write(path: String) throws(TensorFileError) {
    #if _endian(little)
      let header: [UInt8]
      do throws(TensorFileError) { header = try encodedHeader() } catch { throw error.attributed(to: path) }
      let result = header.withUnsafeBytes { h in
        data.withUnsafeBytes { d in Result { () throws(FileIOFailure) in try FileIO.writeAll([h, d], path: path) } }
      }
    #else
      let bytes: [UInt8]
      do throws(TensorFileError) { bytes = try encoded() } catch { throw error.attributed(to: path) }
      let result = Result { () throws(FileIOFailure) in try FileIO.writeAll(bytes, path: path) }
    #endif
    if case .failure(let error) = result { throw TensorFileError(.fileAccess, error.message, file: path) }
  }

  /// A JSON string literal (ASCII control characters, `"` and `\` escaped).
  private static func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\t": result += "\\t"
      case "\r": result += "\\r"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }
}

/// Typed access to the header's members, with errors naming the key.
private struct HeaderFields {
  let members: [String: JSONValue]
  init(_ members: [String: JSONValue]) { self.members = members }

  func optionalString(_ key: String) throws(TensorFileError) -> String? {
    guard let value = members[key] else { return nil }
    guard case .string(let text) = value else {
      throw TensorFileError(.malformedHeader, "header key \(key) is not a string")
    }
    return text
  }

  func string(_ key: String) throws(TensorFileError) -> String {
    guard let text = try optionalString(key) else {
      throw TensorFileError(.malformedHeader, "header has no key \(key)")
    }
    return text
  }

  func integer(_ key: String) throws(TensorFileError) -> Int {
    guard case .integer(let number)? = members[key], number >= 0 else {
      throw TensorFileError(.malformedHeader, "header key \(key) is missing or not a non-negative integer")
    }
    return number
  }

  func integers(_ key: String) throws(TensorFileError) -> [Int] {
    guard case .array(let items)? = members[key] else {
      throw TensorFileError(.malformedHeader, "header key \(key) is missing or not an array")
    }
    var result: [Int] = []
    for item in items {
      guard case .integer(let number) = item else {
        throw TensorFileError(.malformedHeader, "header key \(key) holds a non-integer")
      }
      result.append(number)
    }
    return result
  }
}
