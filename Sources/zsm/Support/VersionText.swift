import ZSMModel
import ZSMRuntime

/// What `zsm --version` prints: the version, the commit when the builder recorded it, the CPU
/// flags and features the build targets, whether it has int8 kernels, and the features of the
/// CPU it runs on (as the start-up check reads them).
func versionText() -> String {
  let none = "none"
  func list(_ features: [String]) -> String { features.isEmpty ? none : features.joined(separator: " ") }
  let missing = CPUFeatures.buildTarget.filter { !CPUFeatures.detected.contains($0) }
  return """
    zsm \(ZSMVersion.runtime)
    commit: \(CPUFeatures.buildCommit ?? "unknown (set ZSM_GIT_COMMIT when building to record it)")
    build flags: \(CPUFeatures.buildFlags)
    built for: \(CPUFeatures.arch) \(list(CPUFeatures.compiledFor))
    int8 kernels: \(Int8Policy.unavailableReason.map { "no (\($0))" } ?? "yes (\(Int8Policy.backend ?? ""))")
    this CPU: \(CPUFeatures.arch) \(list(CPUFeatures.detected))\(missing.isEmpty ? "" : " (lacks \(missing.joined(separator: " ")))")
    """
}
