internal import Foundation
internal import Synchronization

/// The wall clock, for real runs.
public struct SystemClock: FlowClock {
  public init() {}

  public func now() -> Int { Int(Date().timeIntervalSince1970) }
}

/// A clock that moves only when told: tests and dry runs advance it to expire codes.
public final class ManualClock: FlowClock {
  private let current: Mutex<Int>

  /// Starts at `start` seconds since 1970 (default 2026-01-01T09:00:00Z).
  public init(start: Int = 1_767_258_000) {
    current = Mutex(start)
  }

  public func now() -> Int { current.withLock { $0 } }

  /// Sets the clock (the path explorer goes back and forth between explored states).
  public func set(_ seconds: Int) {
    current.withLock { $0 = seconds }
  }

  /// Moves the clock forward by `seconds`.
  public func advance(by seconds: Int) {
    current.withLock { now in
      let (moved, overflow) = now.addingReportingOverflow(seconds)
      now = overflow ? Int.max / 2 : moved
    }
  }
}

/// A clock that never reads earlier than a floor it can be moved to: the clock of a dry-run
/// store, whose time `flowctl store tick --at` moves forward (and never back).
public final class FloorClock: FlowClock {
  private let base: any FlowClock
  private let floor: Mutex<Int>

  public init(base: any FlowClock, floor: Int) {
    self.base = base
    self.floor = Mutex(floor)
  }

  public func now() -> Int { max(base.now(), floor.withLock { $0 }) }

  /// Moves the floor to `time` when it is later; returns false when `time` is earlier than now.
  public func move(to time: Int) -> Bool {
    floor.withLock { floor in
      guard time >= max(base.now(), floor) else { return false }
      floor = time
      return true
    }
  }
}
