internal import Foundation

/// A lock the thread holding it may take again: a step holds it while the services it calls
/// take it for each read and write.
final class ReentrantLock: @unchecked Sendable {
  private let lock = NSRecursiveLock()

  func withLock<T>(_ body: () throws -> T) rethrows -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }
}
