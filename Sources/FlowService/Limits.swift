internal import Foundation
internal import Synchronization

/// Token buckets per user and per client address (SECURITY.md 31): each holds two seconds of
/// its rate, refills continuously, and a request takes one token from both.
final class RateLimiter: Sendable {
  struct Bucket {
    var tokens: Double
    var at: Double
  }

  let userRate: Double
  let addressRate: Double
  private let buckets = Mutex<[String: Bucket]>([:])

  init(userRate: Double, addressRate: Double) {
    self.userRate = userRate
    self.addressRate = addressRate
  }

  /// nil when admitted; else the whole seconds to wait (for `Retry-After`).
  func admit(user: String, address: String, now: Double = Date().timeIntervalSince1970) -> Int? {
    buckets.withLock { buckets in
      let keys = [("user:" + user, userRate), ("address:" + address, addressRate)]
      var wait = 0.0
      var refilled: [(String, Bucket)] = []
      for (key, rate) in keys {
        var bucket = buckets[key] ?? Bucket(tokens: rate * 2, at: now)
        bucket.tokens = min(rate * 2, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens < 1 { wait = max(wait, (1 - bucket.tokens) / rate) }
        refilled.append((key, bucket))
      }
      for (key, var bucket) in refilled {
        if wait == 0 { bucket.tokens -= 1 }
        buckets[key] = bucket
      }
      if buckets.count > 100_000 {
        // Full buckets carry no information: drop them.
        buckets = buckets.filter { $0.value.tokens < 1 }
      }
      return wait == 0 ? nil : max(1, Int(wait.rounded(.up)))
    }
  }
}
