import XCTest
import ZSMRuntime

final class TensorLayoutTests: XCTestCase {
  func testNCHWRoundTripThroughHaloAndSlices() throws {
    let (c, h, w) = (5, 3, 4)
    let source = (0..<(c * h * w)).map { Float($0) }
    // A 5-channel slice at channel offset 3 of a 16-channel tensor with a halo.
    let storage = TensorStorage(TensorDescriptor(height: h, width: w, channels: 16, halo: 1))
    let slice = try storage.view.channels(3, c)
    source.withUnsafeBufferPointer { copyFromNCHW($0.baseAddress!, to: slice.map) }
    // Element (c, y, x) lands at pixel (y, x), channel 3 + c.
    XCTAssertEqual(storage.view.map.pixel(2, 1)[3 + 4], source[(4 * h + 2) * w + 1])
    var back = [Float](repeating: -1, count: c * h * w)
    back.withUnsafeMutableBufferPointer { copyToNCHW(slice.map, $0.baseAddress!) }
    XCTAssertEqual(back, source)
    // The halo stays zero; clearHalo zeroes it after a write.
    let d = storage.view.descriptor
    XCTAssertEqual(storage.view.storage[0], 0)
    storage.view.storage.update(repeating: 7, count: d.floatCount)
    storage.view.clearHalo()
    XCTAssertEqual(storage.view.storage[0], 0)
    XCTAssertEqual(storage.view.storage[d.floatCount - 1], 0)
    XCTAssertEqual(storage.view.map.pixel(0, 0)[0], 7, "the interior is left alone")
    XCTAssertEqual(storage.view.map.pixel(-1, 2)[9], 0)
    XCTAssertEqual(storage.view.map.pixel(1, w)[0], 0)
  }
}
