import XCTest
import ZSMKernels
import ZSMModel
import ZSMRuntime

/// What `zsm profile` relies on: the deformable convolutions are timed and counted separately,
/// and the runtime's tunables reach the layers (and do not change the result).
final class ProfilingHooksTests: XCTestCase {
  func randomNetwork(_ config: ZSMConfig) throws -> ZSMNetwork {
    var state: UInt64 = 1
    var parameters: [String: [Float]] = [:]
    for (name, shape) in config.expectedParameters() {
      parameters[name] = (0..<shape.reduce(1, *)).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 1) % 1000) / 20_000
      }
    }
    return try ZSMNetwork(config: config, parameters: parameters, threads: 2)
  }

  func run(_ network: ZSMNetwork, frames: Int, height: Int, width: Int) throws -> [Float] {
    try network.prepare(frames: frames, height: height, width: width)
    let input = (0..<(frames * 3 * height * width)).map { Float($0 % 17) / 17 }
    var output = [Float](repeating: 0, count: (2 * frames - 1) * 3 * 16 * height * width)
    input.withUnsafeBufferPointer { i in
      output.withUnsafeMutableBufferPointer { o in network.run(input: i.baseAddress!, output: o.baseAddress!) }
    }
    return output
  }

  func testDeformableTimeAndMACsArePartOfStagesBAndC() throws {
    let network = try randomNetwork(ZSMConfig(nf: 16, groups: 2, frontRBs: 1, backRBs: 1))
    _ = try run(network, frames: 3, height: 12, width: 16)
    let macs = network.macsPerWindow
    let deformMACs = network.deformableMACsPerWindow
    // 3 DCNs per PCD alignment (L3, L2, L1) + the cascade one: 4 per alignment; alignments:
    // 2 per interpolated frame in B, 2 (h and c) per LSTM step in C.
    XCTAssertGreaterThan(deformMACs, 0)
    XCTAssertLessThan(deformMACs, (macs[.interpolation] ?? 0) + (macs[.convLSTM] ?? 0))
    let stages = network.lastRunStageSeconds
    XCTAssertGreaterThan(network.lastRunDeformableSeconds, 0)
    XCTAssertLessThan(
      network.lastRunDeformableSeconds, (stages[.interpolation] ?? 0) + (stages[.convLSTM] ?? 0))
  }

  func testTunablesReachTheLayersAndKeepTheResult() throws {
    defer {
      RuntimeTuning.apply(BoardProfile.Tuning.defaults)
    }
    let config = ZSMConfig(nf: 16, groups: 2, frontRBs: 1, backRBs: 1)
    let reference = try run(try randomNetwork(config), frames: 2, height: 8, width: 20)
    RuntimeTuning.apply(
      BoardProfile.Tuning(deformableTilePixels: 7, rowChunksPerThread: 1, provenance: .init(status: .defaults)))
    let dcn = DeformableConv2D(
      name: "t", groups: 1, epilogue: .none,
      weights: PackedConvWeights(
        layout: ConvWeightLayout(inputChannels: 16, outputChannels: 16, taps: 9), weights: [0], bias: [0]))
    XCTAssertEqual(dcn.tilePixels, 7)
    let tuned = try run(try randomNetwork(config), frames: 2, height: 8, width: 20)
    // Tiles and row splits change which pixels go together, not any value's arithmetic.
    XCTAssertEqual(tuned, reference)
  }
}
