import Foundation
import XCTest
import ZSMKernels

final class ElementwiseTests: XCTestCase {
  func testUpsample2xMatchesHalfPixelBilinear() {
    var rng = TestRandom(seed: 1)
    for (c, h, w, s) in [(20, 3, 5, 2.0), (64, 4, 4, 1.0), (3, 1, 2, 1.0), (16, 6, 1, 2.0)] {
      let input = rng.array(c * h * w)
      let inMap = TestMap(height: h, width: w, channels: c, halo: 0)
      inMap.load(nchw: input)
      let outMap = TestMap(height: 2 * h, width: 2 * w, channels: c, halo: 1)
      upsample2x(input: inMap.map, output: outMap.map, scale: Float(s), rows: 0..<(2 * h))
      let want = Reference.upsample2x(input, channels: c, height: h, width: w, scale: s)
      let got = outMap.nchw()
      for i in got.indices { XCTAssertEqual(Double(got[i]), want[i], accuracy: 1e-6 * max(1, abs(want[i]))) }
    }
  }

  func testPixelShuffleWithPhaseMajorChannels() {
    var rng = TestRandom(seed: 2)
    for (c, h, w, leaky) in [(64, 3, 4, true), (20, 2, 3, false), (3, 1, 1, true)] {
      let standard = rng.array(4 * c * h * w)
      // What a convolution packed with pixelShufflePhaseMajorOrder would have produced.
      let order = pixelShufflePhaseMajorOrder(channels: c)
      var phaseMajor = [Float](repeating: 0, count: standard.count)
      for p in 0..<(4 * c) {
        for i in 0..<(h * w) { phaseMajor[p * h * w + i] = standard[order(p) * h * w + i] }
      }
      let inMap = TestMap(height: h, width: w, channels: 4 * c, halo: 0)
      inMap.load(nchw: phaseMajor)
      let outMap = TestMap(height: 2 * h, width: 2 * w, channels: c, halo: 0)
      pixelShuffle2x(input: inMap.map, output: outMap.map, leaky: leaky, rows: 0..<h)
      var want = Reference.pixelShuffle(standard, outChannels: c, height: h, width: w)
      if leaky { want = want.map { $0 < 0 ? $0 * 0.1 : $0 } }
      XCTAssertEqual(outMap.nchw(), want)
    }
  }

  /// Between fp16 maps (the 4x tail's bands with `--precision fp16`): the shuffle and LeakyReLU
  /// of the fp16 values, rounded once to fp16.
  func testPixelShuffleBetweenFP16Maps() {
    var rng = TestRandom(seed: 3)
    let (c, h, w) = (16, 2, 3)
    let values = rng.array(4 * c * h * w).map { Float(Float16($0)) }
    let inMap = TestMap(height: h, width: w, channels: 4 * c, halo: 0)
    inMap.load(nchw: values)
    let single = TestMap(height: 2 * h, width: 2 * w, channels: c, halo: 0)
    pixelShuffle2x(input: inMap.map, output: single.map, leaky: true, rows: 0..<h)
    let outMap = TestMap(height: 2 * h, width: 2 * w, channels: c, halo: 0)
    outMap.withHalfMap { outHalf in
      inMap.withHalfMap { inHalf in
        pixelShuffle2x(input: AnyFeatureMap(inHalf), output: AnyFeatureMap(outHalf), leaky: true, rows: 0..<h)
      }
      for y in 0..<(2 * h) {
        for x in 0..<(2 * w) {
          for k in 0..<c { outMap.map.pixel(y, x)[k] = Float(outHalf.pixel(y, x)[k]) }
        }
      }
    }
    XCTAssertEqual(outMap.nchw(), single.nchw().map { Float(Float16($0)) })
  }

  func testSigmoidAndTanhAreAccurateEverywhere() {
    var values: [Float] = [0, -0, 1e-7, -1e-7, 1e-3, -0.3, 0.62, 0.63, -0.7, 3, -9, 20, -20, 87, -87, 100, -100]
    var rng = TestRandom(seed: 3)
    values += rng.array(47, -12, 12)
    let m = TestMap(height: 1, width: 1, channels: values.count, halo: 0)
    let out = TestMap(height: 1, width: 1, channels: values.count, halo: 0)
    m.load(nchw: values)
    sigmoid(m.map, output: out.map, rows: 0..<1)
    for (i, got) in out.nchw().enumerated() {
      let want = 1 / (1 + exp(-Double(values[i])))
      XCTAssertEqual(Double(got), want, accuracy: 2e-7 * max(want, 1e-30) + 1e-37, "sigmoid(\(values[i]))")
    }
    tanh(m.map, output: out.map, rows: 0..<1)
    for (i, got) in out.nchw().enumerated() {
      let want = Foundation.tanh(Double(values[i]))
      XCTAssertEqual(Double(got), want, accuracy: 3e-7 * abs(want) + 1e-12, "tanh(\(values[i]))")
    }
  }

  func testLSTMUpdateGateOrderIFOG() {
    var rng = TestRandom(seed: 4)
    let (c, h, w) = (20, 2, 3)
    let gates = rng.array(4 * c * h * w, -3, 3)
    let cellIn = rng.array(c * h * w, -2, 2)
    let g = TestMap(height: h, width: w, channels: 4 * c, halo: 0)
    g.load(nchw: gates)
    let ci = TestMap(height: h, width: w, channels: c, halo: 0)
    ci.load(nchw: cellIn)
    let co = TestMap(height: h, width: w, channels: c, halo: 0)
    let ho = TestMap(height: h, width: w, channels: c, halo: 1)
    lstmUpdate(gates: g.map, cellIn: ci.map, cellOut: co.map, hiddenOut: ho.map, rows: 0..<h)
    let cells = co.nchw()
    let hidden = ho.nchw()
    let plane = c * h * w
    for i in 0..<plane {
      let s = { (x: Float) in 1 / (1 + exp(-Double(x))) }
      let cell = s(gates[plane + i]) * Double(cellIn[i]) + s(gates[i]) * Foundation.tanh(Double(gates[3 * plane + i]))
      XCTAssertEqual(Double(cells[i]), cell, accuracy: 1e-6 * max(1, abs(cell)))
      XCTAssertEqual(Double(hidden[i]), s(gates[2 * plane + i]) * Foundation.tanh(cell), accuracy: 1e-6)
    }
  }

  func testScaleAndAdd() {
    var rng = TestRandom(seed: 5)
    let a = rng.array(19 * 3 * 2)
    let b = rng.array(19 * 3 * 2)
    let ma = TestMap(height: 3, width: 2, channels: 19, halo: 0)
    let mb = TestMap(height: 3, width: 2, channels: 19, halo: 1)
    ma.load(nchw: a)
    mb.load(nchw: b)
    let out = TestMap(height: 3, width: 2, channels: 19, halo: 0)
    scaleAdd(ma.map, alpha: 2, mb.map, beta: -0.5, output: out.map, rows: 0..<3)
    for (i, v) in out.nchw().enumerated() { XCTAssertEqual(v, 2 * a[i] - 0.5 * b[i], accuracy: 1e-6) }
    scale(ma.map, by: 3, output: ma.map, rows: 0..<3)
    for (i, v) in ma.nchw().enumerated() { XCTAssertEqual(v, 3 * a[i], accuracy: 1e-6) }
  }
}
