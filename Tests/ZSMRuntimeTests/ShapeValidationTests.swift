import XCTest
import ZSMKernels
import ZSMRuntime

final class ShapeValidationTests: XCTestCase {
  func makeConv(cin: Int, cout: Int, kernel: Int = 3, stride: Int = 1, epilogue: Epilogue = .none) -> (
    Conv2D, WeightStorage
  ) {
    let layout = ConvWeightLayout(inputChannels: cin, outputChannels: cout, taps: kernel * kernel)
    let storage = WeightStorage(floatCount: WeightStorage.floatCount(for: layout))
    let w = [Float](repeating: 0.1, count: cout * cin * kernel * kernel)
    let b = [Float](repeating: 0, count: cout)
    let packed = storage.pack(layout, weights: w, bias: b)
    return (Conv2D(name: "test", kernelSize: kernel, stride: stride, epilogue: epilogue, weights: packed), storage)
  }

  func expectError(_ contains: String, _ body: () throws(ShapeError) -> Void) {
    do {
      try body()
      XCTFail("expected a ShapeError containing '\(contains)'")
    } catch {
      XCTAssertTrue(error.message.contains(contains), "'\(error.message)' should contain '\(contains)'")
    }
  }

  func testConvReportsWhatWasExpectedAndGiven() {
    let (conv, weights) = makeConv(cin: 8, cout: 16)
    // The convolution points into `weights`, which must outlive its runs (AddressSanitizer saw
    // the storage freed right after makeConv returned, and the runs read freed memory).
    defer { withExtendedLifetime(weights) {} }
    let pool = WorkerPool(threads: 1)
    let good = TensorStorage(TensorDescriptor(height: 4, width: 5, channels: 8, halo: 1))
    let wrongChannels = TensorStorage(TensorDescriptor(height: 4, width: 5, channels: 7, halo: 1))
    let noHalo = TensorStorage(TensorDescriptor(height: 4, width: 5, channels: 8))
    let out = TensorStorage(TensorDescriptor(height: 4, width: 5, channels: 16))
    let smallOut = TensorStorage(TensorDescriptor(height: 2, width: 5, channels: 16))
    expectError("input has 7 channels, expected 8") { () throws(ShapeError) in
      try conv.run(input: wrongChannels.view, output: out.view, pool: pool)
    }
    expectError("needs a 1-pixel zero halo") { () throws(ShapeError) in
      try conv.run(input: noHalo.view, output: out.view, pool: pool)
    }
    expectError("output is 5x2, expected 5x4") { () throws(ShapeError) in
      try conv.run(input: good.view, output: smallOut.view, pool: pool)
    }
    XCTAssertNoThrow(try conv.run(input: good.view, output: out.view, pool: pool))
  }

  func testResidualAndSlices() throws {
    let (conv, weights) = makeConv(cin: 8, cout: 8, epilogue: .residual)
    // The convolution points into `weights`, which must outlive its runs (AddressSanitizer saw
    // the storage freed right after makeConv returned, and the runs read freed memory).
    defer { withExtendedLifetime(weights) {} }
    let pool = WorkerPool(threads: 1)
    let input = TensorStorage(TensorDescriptor(height: 3, width: 3, channels: 8, halo: 1))
    let out = TensorStorage(TensorDescriptor(height: 3, width: 3, channels: 8))
    expectError("residual epilogue without a residual tensor") { () throws(ShapeError) in
      try conv.run(input: input.view, output: out.view, pool: pool)
    }
    expectError("outside a tensor of 8 channels") { () throws(ShapeError) in _ = try out.view.channels(4, 8) }
    let concat = TensorStorage(TensorDescriptor(height: 3, width: 3, channels: 16))
    try conv.run(input: input.view, output: concat.view.channels(8, 8), residual: out.view, pool: pool)
  }

  func testDeformableConvChecksOffsetChannels() {
    let layout = ConvWeightLayout(inputChannels: 16, outputChannels: 16, taps: 9)
    let storage = WeightStorage(floatCount: WeightStorage.floatCount(for: layout))
    let packed = storage.pack(
      layout, weights: [Float](repeating: 0, count: 16 * 16 * 9), bias: [Float](repeating: 0, count: 16))
    let dcn = DeformableConv2D(name: "test", groups: 2, epilogue: .none, weights: packed)
    let x = TensorStorage(TensorDescriptor(height: 3, width: 4, channels: 16))
    let om = TensorStorage(TensorDescriptor(height: 3, width: 4, channels: 50))
    let y = TensorStorage(TensorDescriptor(height: 3, width: 4, channels: 16))
    expectError("offsets/mask have 50 channels, expected 54") { () throws(ShapeError) in
      try dcn.run(
        input: x.view, offsetsAndMask: om.view, output: y.view, pool: WorkerPool(threads: 1), scratch: x.view.storage)
    }
  }
}
