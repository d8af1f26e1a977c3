import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Turns SIGTERM, SIGINT and SIGHUP into flags the pipeline loop reads between frames: the
/// signals are blocked in every thread and one thread takes them with `sigwait`, so no code
/// runs in a signal handler.
public final class SignalWatcher: @unchecked Sendable {
  private let stop = Atomic<Bool>(false)
  private let reload = Atomic<Bool>(false)

  /// Call before any other thread is created (new threads inherit the blocked mask).
  public init() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGHUP)
    pthread_sigmask(SIG_BLOCK, &set, nil)
    let context = Unmanaged.passRetained(self).toOpaque()
    var thread = pthread_t()
    pthread_create(
      &thread, nil,
      { raw in
        let watcher = Unmanaged<SignalWatcher>.fromOpaque(raw!).takeRetainedValue()
        watcher.loop()
        return nil
      }, context)
    pthread_detach(thread)
  }

  private func loop() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGHUP)
    while true {
      var signal: Int32 = 0
      guard sigwait(&set, &signal) == 0 else { continue }
      if signal == SIGHUP { reload.store(true, ordering: .releasing) } else { stop.store(true, ordering: .releasing) }
    }
  }

  /// SIGTERM or SIGINT arrived: finish the current window, flush, exit.
  public var stopRequested: Bool { stop.load(ordering: .acquiring) }

  /// SIGHUP arrived since the last call: reload the configuration.
  public func takeReloadRequest() -> Bool { reload.exchange(false, ordering: .acquiringAndReleasing) }

  /// A reload is pending (without taking it).
  public var reloadPending: Bool { reload.load(ordering: .acquiring) }
}
