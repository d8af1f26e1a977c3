/// A PyTorch `state_dict`: named float32 tensors in file order, as loaded from a `.pth`.
///
/// ```swift
/// let weights = try StateDict.load(path: "xiang2020zooming.pth")
/// let config = try ZSMConfig(inferringFrom: weights)
/// try weights.verifyStrict(against: config)
/// ```
public struct StateDict: Sendable, Equatable {
  /// One named tensor: its shape (outermost axis first) and its values in C order.
  public struct Tensor: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let data: [Float]

    /// Creates a tensor; `data.count` should equal the product of `shape`.
    public init(name: String, shape: [Int], data: [Float]) {
      self.name = name
      self.shape = shape
      self.data = data
    }

    /// The number of elements the shape describes.
    public var elementCount: Int { shape.reduce(1, *) }

    /// Equal names, shapes and values bit for bit (so NaN weights compare equal to themselves).
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
      lhs.name == rhs.name && lhs.shape == rhs.shape
        && lhs.data.elementsEqual(rhs.data) { $0.bitPattern == $1.bitPattern }
    }
  }

  /// The tensors in file order.
  public let tensors: [Tensor]
  private let positions: [String: Int]

  /// Creates a state_dict from tensors in order; a repeated name keeps its first position
  /// for lookups.
  public init(tensors: [Tensor]) {
    self.tensors = tensors
    var positions: [String: Int] = [:]
    for (index, tensor) in tensors.enumerated() where positions[tensor.name] == nil {
      positions[tensor.name] = index
    }
    self.positions = positions
  }

  /// The tensor names in file order.
  public var names: [String] { tensors.map(\.name) }

  /// The tensor called `name`, if any.
  public subscript(name: String) -> Tensor? { positions[name].map { tensors[$0] } }

  /// The total number of parameters (elements of all tensors).
  public var parameterCount: Int { tensors.reduce(0) { $0 + $1.data.count } }

  /// Equal tensors in the same order.
  public static func == (lhs: StateDict, rhs: StateDict) -> Bool { lhs.tensors == rhs.tensors }

  // MARK: - Loading

  /// Loads the checkpoint at `path`, detecting the container by content: a PyTorch zip
  /// archive (`PK\x03\x04`, PyTorch ≥ 1.6) or a legacy pickle sequence (`0x80`, pre-1.6).
  ///
  /// - Throws: `CheckpointError` naming `path` and the problem; never crashes on bad input.
  public static func load(path: String) throws(CheckpointError) -> StateDict {
    let bytes: [UInt8]
    do throws(FileIOFailure) {
      bytes = try FileIO.readAll(path: path)
    } catch {
      throw CheckpointError(.fileAccess, error.message, file: path)
    }
    do throws(CheckpointError) {
      return try decode(bytes)
    } catch {
      throw error.attributed(to: path)
    }
  }

  /// Decodes a checkpoint held in memory (see `load(path:)`).
  public static func decode(_ bytes: [UInt8]) throws(CheckpointError) -> StateDict {
    guard !bytes.isEmpty else {
      throw CheckpointError(.unrecognizedContainer, "the file is empty; expected a PyTorch checkpoint")
    }
    if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
      let container = try TorchZipContainer(bytes: bytes)
      let entries = try StateDictAssembler.entries(of: container.root)
      return try StateDictAssembler.materialize(entries, bytes: bytes, storages: container)
    }
    if bytes[0] == 0x80 {
      let container = try TorchLegacyContainer(bytes: bytes)
      let entries = try StateDictAssembler.entries(of: container.root)
      let storages = try container.storageTable(for: entries.map(\.tensor.storage))
      return try StateDictAssembler.materialize(entries, bytes: bytes, storages: storages)
    }
    let head = bytes.prefix(4).map { byte in
      let hex = String(byte, radix: 16)
      return byte < 16 ? "0" + hex : hex
    }
    throw CheckpointError(
      .unrecognizedContainer,
      "not a PyTorch checkpoint: starts with bytes \(head.joined(separator: " ")); expected a zip archive "
        + "(50 4b 03 04) or a legacy pickle (80)")
  }
}
