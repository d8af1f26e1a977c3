import Foundation
import XCTest
import ZSMRuntime

/// Boards/*.json: every shipped file is valid, round-trips through the writer, and every rule of
/// the schema (Boards/README.md) refuses a broken file with a message naming the field.
final class BoardProfileTests: XCTestCase {
  static let boardsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Boards")

  static let expectedBoards = ["jetson-orin-nano", "rk3588", "rpi4", "rpi5", "x86_64-avx2", "x86_64-avx512"]

  func testEveryShippedBoardLoadsAndRoundTrips() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: Self.boardsDirectory.path)
      .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    XCTAssertEqual(names, Self.expectedBoards)
    for name in names {
      let path = Self.boardsDirectory.appendingPathComponent("\(name).json").path
      let board = try BoardProfile.load(path: path, expectedName: name)
      XCTAssertEqual(board.name, name)
      XCTAssertGreaterThan(board.coreCount, 0)
      XCTAssertLessThanOrEqual(board.threads, board.coreCount)
      let again = try BoardProfile.parse(Array(board.json().utf8), source: "round trip of \(name)")
      XCTAssertEqual(again, board, name)
      // Every figure is either measured with provenance, derived with a note, or a null placeholder.
      for f in board.figures {
        switch f.provenance.status {
        case .measured, .emulated: XCTAssertNotNil(f.provenance.command, "\(name) \(f.name)")
        case .derived: XCTAssertNotNil(f.provenance.note, "\(name) \(f.name)")
        case .placeholder: XCTAssertNil(f.value, "\(name) \(f.name)")
        case .defaults: XCTFail("figures cannot be 'defaults'")
        }
      }
    }
  }

  func testBoardsMatchTheIssue() throws {
    let load = { (n: String) in
      try BoardProfile.load(path: Self.boardsDirectory.appendingPathComponent("\(n).json").path)
    }
    XCTAssertEqual(try load("rpi4").features, ["asimd"], "A72: no fp16 arithmetic, no dot product")
    for n in ["rpi5", "rk3588", "jetson-orin-nano"] {
      XCTAssertEqual(Set(try load(n).features), ["asimd", "fphp", "asimdhp", "asimddp"], n)
      XCTAssertEqual(try load(n).march, "armv8.2-a+fp16+dotprod", n)
    }
    let rk = try load("rk3588")
    XCTAssertEqual(rk.clusters.map(\.kind), ["little", "big"])
    XCTAssertEqual(rk.affinity, [4, 5, 6, 7], "threads on the A76s")
    XCTAssertTrue(try load("x86_64-avx512").features.contains("avx512f"))
    XCTAssertFalse(try load("x86_64-avx2").features.contains("avx512f"))
  }

  /// A valid minimal board, as a mutable JSON object.
  func base() -> [String: Any] {
    [
      "schema": "zsm-board/1", "name": "test", "description": "d", "arch": "aarch64",
      "cores": [["kind": "big", "model": "A76", "cpus": [0, 1], "max_mhz": 2400] as [String: Any]],
      "features": ["asimd"],
      "caches": ["l1d_per_core_kib": 64, "l2_kib": NSNull(), "l2_shared": false, "l3_kib": NSNull()] as [String: Any],
      "build": ["target_cpu": "cortex-a76", "march": NSNull()] as [String: Any],
      "runtime": ["threads": 2, "affinity": [0, 1]] as [String: Any],
      "tuning": ["deformable_tile_pixels": 48, "row_chunks_per_thread": 4, "status": "defaults"] as [String: Any],
      "figures": [
        [
          "name": "peak", "value": 1.5, "unit": "GFLOP/s", "status": "measured", "machine": "m", "date": "2026-11-26",
          "command": "zsm profile",
        ] as [String: Any]
      ],
    ]
  }

  func parse(_ object: [String: Any]) throws -> BoardProfile {
    let data = try JSONSerialization.data(withJSONObject: object)
    return try BoardProfile.parse(Array(data), source: "test.json")
  }

  func assertRefused(_ object: [String: Any], _ fragment: String, line: UInt = #line) {
    do {
      _ = try parse(object)
      XCTFail("accepted; expected an error containing '\(fragment)'", line: line)
    } catch let error as BoardError {
      XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", line: line)
      XCTAssertTrue(error.message.hasPrefix("test.json: "), error.message, line: line)
    } catch {
      XCTFail("unexpected \(error)", line: line)
    }
  }

  func testTheMinimalBoardIsValid() throws {
    let b = try parse(base())
    XCTAssertEqual(b.threads, 2)
    XCTAssertEqual(b.figures.first?.value, 1.5)
    XCTAssertEqual(b.tuning, .defaults)
  }

  func testEveryRuleRefusesWithTheFieldNamed() {
    var o = base()
    o["schema"] = "zsm-board/2"
    assertRefused(o, "schema is 'zsm-board/2'")
    o = base()
    o["colour"] = "red"
    assertRefused(o, "colour: unknown field")
    o = base()
    o.removeValue(forKey: "runtime")
    assertRefused(o, "runtime: missing")
    o = base()
    o["arch"] = "riscv64"
    assertRefused(o, "arch: expected")
    o = base()
    o["name"] = "Pi 5"
    assertRefused(o, "name: use lowercase")
    o = base()
    o["features"] = ["asimd", "avx2"]
    assertRefused(o, "unknown aarch64 feature 'avx2'")
    o = base()
    o["runtime"] = ["threads": 3, "affinity": [0, 1]]
    assertRefused(o, "runtime.threads: expected an integer from 1 to 2")
    o = base()
    o["runtime"] = ["threads": 2, "affinity": [0, 7]]
    assertRefused(o, "runtime.affinity: CPU 7 is not one of the board's cores")
    o = base()
    o["cores"] = [["kind": "big", "model": "x", "cpus": [0, 0], "max_mhz": NSNull()] as [String: Any]]
    assertRefused(o, "cores: a CPU number appears twice")
    o = base()
    o["cores"] = [["kind": "medium", "model": "x", "cpus": [0, 1], "max_mhz": NSNull()] as [String: Any]]
    assertRefused(o, "cores[0].kind: expected \"big\" or \"little\"")
    o = base()
    o["tuning"] = ["deformable_tile_pixels": 0, "row_chunks_per_thread": 4, "status": "defaults"]
    assertRefused(o, "tuning.deformable_tile_pixels: expected an integer from 1 to 1024")
    o = base()
    o["tuning"] = ["deformable_tile_pixels": 48, "row_chunks_per_thread": 4, "status": "measured"]
    assertRefused(o, "tuning.machine: a measured value must say")
    o = base()
    o["figures"] = [["name": "p", "value": 2, "unit": "ms", "status": "measured", "machine": "m", "date": "d"]]
    assertRefused(o, "figures[0].command: a measured value must say")
    o = base()
    o["figures"] = [["name": "p", "value": 2, "unit": "ms", "status": "placeholder"]]
    assertRefused(o, "figures[0].value: a placeholder has no value")
    o = base()
    o["figures"] = [["name": "p", "value": NSNull(), "unit": "ms", "status": "derived", "note": "n"]]
    assertRefused(o, "figures[0].value: a derived figure needs a value")
    o = base()
    o["figures"] = [["name": "p", "value": 2, "unit": "ms", "status": "derived"]]
    assertRefused(o, "figures[0].note: a derived value must say how")
    o = base()
    o["figures"] = [["name": "p", "value": 2, "unit": "ms", "status": "defaults"]]
    assertRefused(o, "figures[0].status: expected one of measured, derived, placeholder")
  }

  func testInvalidJSONAndMissingFilesAreClearErrors() {
    XCTAssertThrowsError(try BoardProfile.parse(Array("{\"schema\": ".utf8), source: "x.json")) { e in
      XCTAssertTrue((e as? BoardError)?.message.hasPrefix("x.json: not valid JSON") ?? false, "\(e)")
    }
    XCTAssertThrowsError(try BoardProfile.load(path: "/nonexistent/board.json")) { e in
      XCTAssertEqual((e as? BoardError)?.message, "/nonexistent/board.json: cannot read the file")
    }
    let path = Self.boardsDirectory.appendingPathComponent("rpi5.json").path
    XCTAssertThrowsError(try BoardProfile.load(path: path, expectedName: "rpi4")) { e in
      XCTAssertTrue((e as? BoardError)?.message.contains("name is 'rpi5', expected 'rpi4'") ?? false, "\(e)")
    }
  }

  func testWriterEscapesAndKeepsEveryField() throws {
    var b = try parse(base())
    b.description = "quote \" backslash \\ newline \n tab \t bell \u{07}"
    b.tuning = BoardProfile.Tuning(
      deformableTilePixels: 36, rowChunksPerThread: 2,
      provenance: .init(status: .measured, machine: "here", date: "2026-11-26", command: "zsm profile --write"))
    b.figures.append(.init(name: "x", value: nil, unit: "ms", provenance: .init(status: .placeholder, note: "later")))
    let again = try BoardProfile.parse(Array(b.json().utf8), source: "w")
    XCTAssertEqual(again, b)
    XCTAssertTrue(again.tuning.winograd, "winograd defaults to true where the file does not name it")
    b.tuning.winograd = false
    XCTAssertEqual(try BoardProfile.parse(Array(b.json().utf8), source: "w"), b)
  }
}

/// The start-up check: compiled-for CPU features against the running CPU's, with fake sets.
final class CPUFeatureTests: XCTestCase {
  func testCpuinfoParsing() {
    let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma f16c avx512f\nbugs\t\t: x\n"
    XCTAssertEqual(CPUFeatures.cpuinfoFlags(x86), ["fpu", "sse2", "avx", "avx2", "fma", "f16c", "avx512f"])
    let arm = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes crc32 cpuid asimdhp fphp asimddp\n"
    XCTAssertEqual(
      CPUFeatures.cpuinfoFlags(arm), ["fp", "asimd", "evtstrm", "aes", "crc32", "cpuid", "asimdhp", "fphp", "asimddp"])
    XCTAssertNil(CPUFeatures.cpuinfoFlags("processor : 0\n"))
  }

  func testHWCAPBits() {
    // Linux arch/arm64 uapi hwcap.h: ASIMD 1<<1, FPHP 1<<9, ASIMDHP 1<<10, ASIMDDP 1<<20.
    XCTAssertEqual(CPUFeatures.hwcapFeatures(1 << 1 | 1 << 0), ["asimd"])  // a Pi 4 (A72)
    XCTAssertEqual(
      CPUFeatures.hwcapFeatures(1 << 1 | 1 << 9 | 1 << 10 | 1 << 20), ["asimd", "fphp", "asimdhp", "asimddp"])
  }

  func testRefusalNamesTheMissingFeatures() throws {
    let pi5Build = ["asimd", "fphp", "asimdhp", "asimddp"]
    let pi4 = CPUFeatures.hwcapFeatures(1 << 1)
    let message = try XCTUnwrap(CPUFeatures.refusal(required: pi5Build, available: pi4))
    XCTAssertTrue(message.contains("lacks: fphp, asimdhp, asimddp."), message)
    XCTAssertNil(CPUFeatures.refusal(required: ["asimd"], available: pi4))
    XCTAssertNil(CPUFeatures.refusal(required: pi5Build, available: nil), "unknown CPU: not refused")
    let avx2Host: Set<String> = ["avx", "avx2", "fma", "f16c"]
    XCTAssertEqual(
      CPUFeatures.missing(required: ["avx2", "avx512f", "avx512bw"], available: avx2Host), ["avx512f", "avx512bw"])
  }

  func testThisBuildRunsHere() throws {
    // The test binary was compiled with the package's CPU flags; the machine running it has them.
    XCTAssertNoThrow(try CPUFeatures.requireCompiledFeatures())
  }

  func testThisX86CPUReportsItsFeatures() throws {
    // /proc/cpuinfo's flags line is read on x86; other architectures report through AT_HWCAP.
    guard CPUFeatures.arch == "x86_64" else {
      throw XCTSkip("x86 /proc/cpuinfo flags: this machine is \(CPUFeatures.arch)")
    }
    XCTAssertNotNil(CPUFeatures.available())
  }
}
