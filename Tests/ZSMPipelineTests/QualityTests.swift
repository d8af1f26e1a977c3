import XCTest
import ZSMPipeline

/// Quality metrics against an independent numpy/scipy computation of the same definitions
/// (values printed once by a script and pasted here: scipy.signal.correlate2d "valid" with the
/// normalised 11x11 Gaussian, sigma 1.5).
final class QualityTests: XCTestCase {
  let width = 17
  let height = 13
  var a: [Double] {
    (0..<(width * height)).map { (i: Int) -> Double in Double(16 + (i * 97) % 220) }
  }
  var b: [Double] {
    (0..<(width * height)).map { (i: Int) -> Double in
      let base = 16 + (i * 97) % 220
      return Double(base + (i * 31) % 9 - 4)
    }
  }

  func testPSNRAndSSIMMatchTheReferenceDefinition() {
    XCTAssertEqual(Quality.psnr(a, b), 39.86624430909712, accuracy: 1e-9)
    XCTAssertEqual(Quality.ssim(a, b, width: width, height: height), 0.9991451034745926, accuracy: 1e-12)
  }

  func testIdenticalFrames() {
    XCTAssertEqual(Quality.psnr(a, a), .infinity)
    XCTAssertEqual(Quality.ssim(a, a, width: width, height: height), 1, accuracy: 1e-12)
  }

  func testLumaQuantisesRGBThenAppliesMATLABBT601() {
    var rgb: [Float] = [0.2, 0.5, 0.9]
    let y = Quality.luma(rgb: &rgb, width: 1, height: 1)
    // NumPy on float32: 0.9 * 255 rounds to 229.5 in float32, then half to even: 230.
    XCTAssertEqual(y[0], 116.14311764705882, accuracy: 1e-9)
    // Planar [R R][G G][B B] of two pixels: (0, 1, 1) and (1, 0, 0) after clamping.
    var extremes: [Float] = [-0.5, 1.7, 2, 0, 1, 0]
    let e = Quality.luma(rgb: &extremes, width: 2, height: 1)
    XCTAssertEqual(e[0], 16 + 128.553 + 24.966, accuracy: 1e-9)
    XCTAssertEqual(e[1], 16 + 65.481, accuracy: 1e-9)
  }
}
