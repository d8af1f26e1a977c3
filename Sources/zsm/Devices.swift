import ArgumentParser
import ZSMVideo

struct Devices: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List cameras (formats, sizes, frame rates) and displays (connectors, modes).")

  @Flag(help: "Only cameras.") var cameras = false
  @Flag(help: "Only displays.") var displays = false

  func run() throws {
    let showCameras = cameras || !displays
    let showDisplays = displays || !cameras
    if showCameras {
      let (found, problems) = V4L2Camera.enumerate()
      print("Cameras:" + (found.isEmpty ? " none" : ""))
      for c in found {
        print("  \(c.path): \(c.card) (driver \(c.driver), \(c.busInfo))")
        for f in c.formats {
          var line = "    \(f.fourcc) \(f.description)" + (f.emulated ? " [converted by libv4l]" : "")
          if let r = f.sizeRange { line += " \(r.minWidth)x\(r.minHeight) to \(r.maxWidth)x\(r.maxHeight)" }
          print(line)
          for s in f.sizes {
            let rates = s.framesPerSecond.map { $0 == $0.rounded() ? "\(Int($0))" : "\(($0 * 100).rounded() / 100)" }
            print(
              "      \(s.width)x\(s.height)" + (rates.isEmpty ? "" : " @ " + rates.joined(separator: ", ") + " fps"))
          }
        }
      }
      for p in problems { print("  \(p)") }
    }
    if showDisplays {
      let cards = KMSCard.cardPaths()
      print("Displays:" + (cards.isEmpty ? " none" : ""))
      for path in cards {
        do {
          let card = try KMSCard.open(path)
          defer { card.close() }
          let d = try card.describe()
          print("  \(path): driver \(d.driver), \(d.crtcs.count) CRTCs")
          for c in d.connectors {
            print("    \(c.name) (id \(c.id)): \(c.connected ? "connected" : "disconnected")")
            if !c.modes.isEmpty { print("      modes: " + c.modes.map(\.description).joined(separator: ", ")) }
          }
        } catch {
          print("  \(error)")
        }
      }
    }
  }
}
