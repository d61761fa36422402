internal import Foundation

/// A small lock for the few places that guard plain state across threads.
final class SpinLock: @unchecked Sendable {
  private let lock = NSLock()

  func withLock<T>(_ body: () throws -> T) rethrows -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }
}
