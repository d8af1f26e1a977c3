import Foundation
import XCTest
import ZSMKernels
import ZSMModel
import ZSMPipeline
import ZSMRuntime
import ZSMVideo

/// Spatial tiles (`TilePlan`, `ClipUpscaler` with `TileChoice`): the plan covers every pixel
/// once on the pyramid's 4-pixel grid, a region's core reproduces the whole frame's output
/// within 1e-4 at the default halo, and a tiled clip is the whole clip's bytes.
final class TilingTests: XCTestCase {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let shippedModel = root.appendingPathComponent("Models/zsm-lite.pth").path
  static let tinyModel = root.appendingPathComponent("Tests/Fixtures/tiny_16x12_n2/model.pth").path
  /// Held-out carphone, 44x36 (the quick start's sample): real content, so the halo measured
  /// on it is the decay of a trained model, not of random weights.
  static let clip = root.appendingPathComponent("Samples/carphone/lr.y4m").path

  var directory: URL!

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("zsm-tiling-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    MemoryLimit.reset()
    try? FileManager.default.removeItem(at: directory)
  }

  func network(_ path: String) throws -> ZSMNetwork {
    let (stateDict, config) = try StateDict.loadZSM(path: path)
    return try ZSMNetwork(stateDict: stateDict, config: config, threads: 2)
  }

  func testPlanCoversEveryPixelOnceOnThePyramidGrid() {
    for (w, h, core, halo) in [(44, 36, 16, 12), (45, 37, 16, 8), (3840, 2160, 256, 32), (13, 9, 4, 0), (7, 5, 64, 16)]
    {
      let plan = TilePlan(width: w, height: h, core: core, halo: halo)
      var covered = [Int](repeating: 0, count: w * h)
      var shapesSeen: [String] = []
      for t in plan.tiles {
        for y in t.core.y..<(t.core.y + t.core.height) {
          for x in t.core.x..<(t.core.x + t.core.width) { covered[y * w + x] += 1 }
        }
        let r = t.region
        XCTAssertEqual(r.x % 4, 0, "region \(r) starts on the 4-pixel grid")
        XCTAssertEqual(r.y % 4, 0, "region \(r) starts on the 4-pixel grid")
        XCTAssertEqual(r.x, max(0, t.core.x - plan.halo))
        XCTAssertEqual(r.y, max(0, t.core.y - plan.halo))
        XCTAssertEqual(r.x + r.width, min(w, t.core.x + t.core.width + plan.halo))
        XCTAssertEqual(r.y + r.height, min(h, t.core.y + t.core.height + plan.halo))
        let shape = "\(r.width)x\(r.height)"
        if shapesSeen.last != shape {
          XCTAssertFalse(shapesSeen.contains(shape), "tiles of one region size are consecutive")
          shapesSeen.append(shape)
        }
      }
      XCTAssertEqual(Set(covered), [1], "\(w)x\(h) core \(core): every pixel in exactly one core")
    }
  }

  /// The network on one region, and on the whole frame: the region's core outputs against the
  /// whole frame's, max |difference| over every output frame and channel.
  func coreError(network: ZSMNetwork, frames: [Float], n: Int, width w: Int, height h: Int, plan: TilePlan) throws
    -> Float
  {
    let t = 2 * n - 1
    try network.prepare(frames: n, height: h, width: w)
    var whole = [Float](repeating: 0, count: t * 48 * w * h)
    frames.withUnsafeBufferPointer { i in
      whole.withUnsafeMutableBufferPointer { network.run(input: i.baseAddress!, output: $0.baseAddress!) }
    }
    var worst: Float = 0
    for tile in plan.tiles {
      let r = tile.region
      var input = [Float](repeating: 0, count: n * 3 * r.width * r.height)
      for p in 0..<(n * 3) {
        for y in 0..<r.height {
          for x in 0..<r.width { input[(p * r.height + y) * r.width + x] = frames[(p * h + r.y + y) * w + r.x + x] }
        }
      }
      try network.prepare(frames: n, height: r.height, width: r.width)
      var output = [Float](repeating: 0, count: t * 48 * r.width * r.height)
      input.withUnsafeBufferPointer { i in
        output.withUnsafeMutableBufferPointer { network.run(input: i.baseAddress!, output: $0.baseAddress!) }
      }
      for p in 0..<(t * 3) {
        for y in (4 * tile.core.y)..<(4 * (tile.core.y + tile.core.height)) {
          for x in (4 * tile.core.x)..<(4 * (tile.core.x + tile.core.width)) {
            let a = whole[(p * 4 * h + y) * 4 * w + x]
            let b = output[(p * 4 * r.height + y - 4 * r.y) * 4 * r.width + x - 4 * r.x]
            worst = max(worst, abs(a - b))
          }
        }
      }
    }
    return worst
  }

  /// Frames 0..<n of the sample clip as planar RGB.
  func sampleFrames(_ n: Int) throws -> (frames: [Float], width: Int, height: Int) {
    let reader = try Y4MReader(path: Self.clip)
    let hd = reader.header
    var frames = [Float](repeating: 0, count: n * 3 * hd.width * hd.height)
    var yuv = [UInt8](repeating: 0, count: reader.frameByteCount)
    for k in 0..<n {
      _ = try yuv.withUnsafeMutableBytes { try reader.readFrame(into: $0) }
      frames.withUnsafeMutableBufferPointer { f in
        let rgb = PlanarRGB(
          base: f.baseAddress! + k * 3 * hd.width * hd.height, width: hd.width, height: hd.height, rowStride: hd.width,
          planeStride: hd.width * hd.height)
        yuv.withUnsafeBytes { hd.convertToRGB($0, to: rgb, matrix: .bt601) }
      }
    }
    return (frames, hd.width, hd.height)
  }

  /// The claim behind `TilePlan.halo(for:)`, on the shipped model and real content: with the
  /// default halo every core equals the whole frame within 1e-4 (about 1/40 of an 8-bit
  /// level), while with no halo the tile edges are visibly wrong (so the test can tell).
  func testDefaultHaloReproducesTheWholeFrame() throws {
    let net = try network(Self.shippedModel)
    let n = 3
    let (frames, w, h) = try sampleFrames(n)
    let halo = TilePlan.halo(for: net.config)
    var report: [String] = []
    for trial in [0, 4, 8, 16, halo] {
      let plan = TilePlan(width: w, height: h, core: 12, halo: trial)
      let error = try coreError(network: net, frames: frames, n: n, width: w, height: h, plan: plan)
      report.append("halo \(trial): \(error)")
      if trial == 0 { XCTAssertGreaterThan(error, 1e-2, "no halo changes the tile edges") }
      if trial == halo { XCTAssertLessThanOrEqual(error, 1e-4, "default halo \(halo)") }
    }
    print(
      "TilingTests: shipped model, 44x36 carphone, cores of 12, max |core - whole| by halo: "
        + report.joined(separator: ", "))
  }

  func upscale(_ input: String, _ output: String, network: ZSMNetwork, tiling: TileChoice, halo: Int? = nil) throws
    -> ClipUpscaler
  {
    let reader = try Y4MReader(path: input)
    let header = try upscaledHeader(of: reader.header, slowmo: false)
    let writer = try Y4MWriter(path: output, header: header)
    let upscaler = try ClipUpscaler(
      network: network, windowSize: 3, width: reader.header.width, height: reader.header.height, decode: .bt601,
      encode: .bt601, tiling: tiling, halo: halo)
    _ = try upscaler.run(reader: reader, writer: writer)
    try writer.close()
    return upscaler
  }

  /// Bytes that differ between two files of equal length, and the largest difference.
  func difference(_ a: String, _ b: String) throws -> (count: Int, largest: Int, total: Int) {
    let x = [UInt8](try Data(contentsOf: URL(fileURLWithPath: a)))
    let y = [UInt8](try Data(contentsOf: URL(fileURLWithPath: b)))
    XCTAssertEqual(x.count, y.count)
    var count = 0
    var largest = 0
    for (p, q) in zip(x, y) where p != q {
      count += 1
      largest = max(largest, abs(Int(p) - Int(q)))
    }
    return (count, largest, x.count)
  }

  /// A tiled clip is the whole clip: the same bytes, but for values within 1e-4 of a rounding
  /// boundary (at most one level, at most 1 byte in 10,000). Tiles of several region sizes
  /// (a 90x74 frame is padded at its right and bottom edges as a whole frame is), and the
  /// spill of a window's outputs to a temporary file when they do not fit in memory.
  func testTiledClipMatchesTheWholeClip() throws {
    let net = try network(Self.shippedModel)
    // 90x74 (the sample at twice its size, nearest neighbour): not a multiple of 4, so the
    // edge regions are padded like the whole frame.
    let (w, h) = (90, 74)
    let clip = directory.appendingPathComponent("odd.y4m").path
    let reader = try Y4MReader(path: Self.clip)
    var header = reader.header
    header.width = w
    header.height = h
    let writer = try Y4MWriter(path: clip, header: header)
    var frame = [UInt8](repeating: 0, count: reader.frameByteCount)
    var odd = [UInt8](repeating: 128, count: header.frameByteCount)
    for _ in 0..<4 {
      _ = try frame.withUnsafeMutableBytes { try reader.readFrame(into: $0) }
      for y in 0..<h { for x in 0..<w { odd[y * w + x] = frame[min(y / 2, 35) * 44 + min(x / 2, 43)] } }
      try odd.withUnsafeBytes { try writer.writeFrame($0) }
    }
    try writer.close()
    let whole = directory.appendingPathComponent("whole.y4m").path
    // (Each upscaler is dropped before the next is made: its buffers count against the cap.)
    XCTAssertNil(try upscale(clip, whole, network: net, tiling: .off).tilePlan)
    let tiled = directory.appendingPathComponent("tiled.y4m").path
    do {
      let tiledRun = try upscale(clip, tiled, network: net, tiling: .core(16))
      XCTAssertEqual(tiledRun.tilePlan?.tiles.count, 30)
      XCTAssertFalse(tiledRun.spillsOutputs)
    }
    let d = try difference(whole, tiled)
    XCTAssertLessThanOrEqual(d.largest, 1)
    XCTAssertLessThanOrEqual(d.count * 10_000, d.total, "\(d.count) of \(d.total) bytes differ")
    // Under a cap that a whole window misses, auto takes the largest tiles that fit, their
    // window's outputs in a temporary file when that makes the tiles larger (fewer halo
    // pixels to compute); the result is the same.
    let plannedWhole = try ClipUpscaler.memoryPlan(network: net, windowSize: 3, width: w, height: h, tiling: .off)
    let plannedCore24 = try ClipUpscaler.memoryPlan(network: net, windowSize: 3, width: w, height: h, tiling: .core(24))
    let storeBytes = 5 * 48 * w * h  // 2N-1 output frames, 4:4:4 bound
    XCTAssertFalse(plannedCore24.spillsOutputs)
    for (name, cap, spills) in [
      ("60% of a whole window", plannedWhole.bytes * 6 / 10, nil),
      ("cores of 24 without their outputs", plannedCore24.bytes - storeBytes / 2, true),
    ] as [(String, Int, Bool?)] {
      MemoryLimit.bytes = cap
      let capped = directory.appendingPathComponent("capped.y4m").path
      do {
        let run = try upscale(clip, capped, network: net, tiling: .auto)
        let plan = try XCTUnwrap(run.tilePlan, name)
        XCTAssertLessThanOrEqual(run.plannedBytes, cap, name)
        XCTAssertLessThan(plan.core, w, name)
        if let spills { XCTAssertEqual(run.spillsOutputs, spills, name) }
      }
      let dc = try difference(whole, capped)
      XCTAssertLessThanOrEqual(dc.largest, 1, name)
      XCTAssertLessThanOrEqual(dc.count * 10_000, dc.total, "\(name): \(dc.count) of \(dc.total) bytes differ")
    }
  }

  /// What does not fit even in the smallest tiles is an error naming the sizes, not an abort.
  func testTooLittleMemoryEvenForTilesIsAnError() throws {
    let net = try network(Self.tinyModel)
    MemoryLimit.bytes = 200_000
    XCTAssertThrowsError(
      try ClipUpscaler(network: net, windowSize: 3, width: 640, height: 480, decode: .bt601, encode: .bt601)
    ) { error in
      let text = "\(error)"
      XCTAssertTrue(text.contains("even in the smallest tiles"), text)
      XCTAssertTrue(text.contains("the memory limit is 200.0 kB"), text)
    }
    MemoryLimit.reset()
    let fits = try ClipUpscaler(network: net, windowSize: 3, width: 64, height: 48, decode: .bt601, encode: .bt601)
    XCTAssertNil(fits.tilePlan, "a window that fits is not tiled")
  }

  /// Runs the zsm built beside this test bundle; returns its exit status and its output.
  func zsm(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
      .appendingPathComponent("zsm")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
  }

  /// `zsm inspect --max-memory` prints the tile plan (planned, nothing allocated); upscale's
  /// --tile and --tile-halo are validated.
  func testInspectReportsTheTilePlanAndOptionsAreChecked() throws {
    let tiled = try zsm(["inspect", "--model", Self.shippedModel, "--size", "352x288", "--max-memory", "40"])
    XCTAssertEqual(tiled.status, 0, tiled.output)
    XCTAssertTrue(tiled.output.contains("tiles of"), tiled.output)
    XCTAssertTrue(tiled.output.contains("with a 24-pixel halo"), tiled.output)
    let whole = try zsm(["inspect", "--model", Self.shippedModel, "--size", "44x36"])
    XCTAssertTrue(whole.output.contains("tiles           none: a whole window fits"), whole.output)
    let out = directory.appendingPathComponent("o.y4m").path
    for (option, message) in [
      (["--tile", "6"], "--tile must be auto, off or a multiple of 4"),
      (["--tile-halo", "5"], "--tile-halo must be a multiple of 4"),
    ] {
      let r = try zsm(["upscale", "--model", Self.tinyModel, "-i", Self.clip, "-o", out] + option)
      XCTAssertNotEqual(r.status, 0)
      XCTAssertTrue(r.output.contains(message), r.output)
    }
    let refused = try zsm([
      "upscale", "--model", Self.shippedModel, "-i", Self.clip, "-o", out, "--tile", "off", "--max-memory", "1",
    ])
    XCTAssertNotEqual(refused.status, 0)
    XCTAssertTrue(refused.output.contains("needs"), refused.output)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output from a refused run")
  }
}
