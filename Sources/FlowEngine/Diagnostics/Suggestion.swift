/// "Did you mean …?" for misspelt names: the closest candidate within a small edit distance.
public enum Suggestion {
  /// The candidate nearest to `name`, if it is close enough to be a plausible typo.
  public static func closest(to name: String, in candidates: some Sequence<String>) -> String? {
    let target = Array(name.lowercased().unicodeScalars)
    // Suggestions are for typos in names people type; long text gets none (and no big table).
    guard target.count <= 64 else { return nil }
    let allowed = max(1, min(3, target.count / 3))
    var best: (name: String, distance: Int)?
    for candidate in candidates {
      let other = Array(candidate.lowercased().unicodeScalars)
      guard abs(other.count - target.count) <= allowed else { continue }
      let distance = editDistance(target, other)
      if best == nil || distance < best!.distance { best = (candidate, distance) }
    }
    guard let best else { return nil }
    return best.distance <= allowed ? best.name : nil
  }

  /// " (did you mean 'x'?)" or "": appended to messages about unknown names.
  public static func hint(for name: String, in candidates: some Sequence<String>) -> String {
    closest(to: name, in: candidates).map { " (did you mean '\($0)'?)" } ?? ""
  }

  /// How far a candidate may be from a name of `length` letters to count as a typo of it.
  static func allowedDistance(_ length: Int) -> Int { max(1, min(3, length / 3)) }

  /// The edit distance when it is at most `limit`, else nil, stopping as soon as every
  /// alignment costs more (rows of the table whose smallest cell exceeds the limit).
  static func editDistance(
    _ lhs: [Unicode.Scalar], _ rhs: [Unicode.Scalar], atMost limit: Int
  ) -> Int? {
    if abs(lhs.count - rhs.count) > limit { return nil }
    if lhs.isEmpty || rhs.isEmpty {
      let distance = Swift.max(lhs.count, rhs.count)
      return distance <= limit ? distance : nil
    }
    let width = rhs.count + 1
    var previous2 = [Int](repeating: 0, count: width)
    var previous = Array(0...rhs.count)
    var current = [Int](repeating: 0, count: width)
    for i in 1...lhs.count {
      current[0] = i
      var smallest = i
      for j in 1...rhs.count {
        let cost = lhs[i - 1] == rhs[j - 1] ? 0 : 1
        var value = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        if i > 1, j > 1, lhs[i - 1] == rhs[j - 2], lhs[i - 2] == rhs[j - 1] {
          value = Swift.min(value, previous2[j - 2] + 1)
        }
        current[j] = value
        smallest = Swift.min(smallest, value)
      }
      if smallest > limit { return nil }
      swap(&previous2, &previous)
      swap(&previous, &current)
    }
    return previous[rhs.count] <= limit ? previous[rhs.count] : nil
  }

  /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
  /// neighbouring letters ("titel" is one edit from "title").
  static func editDistance(_ lhs: [Unicode.Scalar], _ rhs: [Unicode.Scalar]) -> Int {
    if lhs.isEmpty { return rhs.count }
    if rhs.isEmpty { return lhs.count }
    let width = rhs.count + 1
    var table = [Int](repeating: 0, count: (lhs.count + 1) * width)
    for i in 0...lhs.count { table[i * width] = i }
    for j in 0...rhs.count { table[j] = j }
    for i in 1...lhs.count {
      for j in 1...rhs.count {
        let cost = lhs[i - 1] == rhs[j - 1] ? 0 : 1
        var best = Swift.min(
          table[(i - 1) * width + j] + 1, table[i * width + j - 1] + 1,
          table[(i - 1) * width + j - 1] + cost)
        if i > 1, j > 1, lhs[i - 1] == rhs[j - 2], lhs[i - 2] == rhs[j - 1] {
          best = Swift.min(best, table[(i - 2) * width + j - 2] + 1)
        }
        table[i * width + j] = best
      }
    }
    return table[lhs.count * width + rhs.count]
  }
}

/// "Did you mean" over a large set of names, in time independent of the set's size: built once
/// per set, it finds every candidate that shares the name or one of its one-letter deletions
/// (which covers one insertion, deletion, substitution or swap, and many two-edit typos), and
/// falls back to a scan of the whole set only within a fixed budget. A flow with thousands of
/// unknown names among thousands of states validates in linear time (issue 10).
public final class SuggestionIndex: @unchecked Sendable {
  private let names: [String]
  private let lowered: [[Unicode.Scalar]]
  /// A hash of each name and of each of its one-letter deletions, lowercased, to the names
  /// that have it (a collision only costs one more edit distance, which decides).
  private var neighbours: [UInt64: [Int32]] = [:]
  /// Full-set comparisons left for names the neighbours do not find (two- and three-edit typos).
  private var scanBudget: Int

  public init(_ candidates: some Sequence<String>, scanBudget: Int = 20_000) {
    var names: [String] = []
    var seen: Set<String> = []
    for candidate in candidates where seen.insert(candidate).inserted { names.append(candidate) }
    names.sort()
    self.names = names
    self.lowered = names.map { Array($0.lowercased().unicodeScalars) }
    self.scanBudget = scanBudget
    var keys: [UInt64] = []
    for (number, scalars) in lowered.enumerated() where scalars.count <= 64 {
      Self.keys(scalars, into: &keys)
      for key in keys where neighbours[key]?.last != Int32(number) {
        neighbours[key, default: []].append(Int32(number))
      }
    }
  }

  public var count: Int { names.count }

  /// Hashes of the name and of each of its one-letter deletions, in time linear in its length:
  /// H(s) = Σ s[k]·P^(n-1-k), and deleting s[i] gives H(s[..<i])·P^(n-1-i) + H(s[(i+1)...]).
  private static func keys(_ scalars: [Unicode.Scalar], into keys: inout [UInt64]) {
    let prime: UInt64 = 1_099_511_628_211
    let count = scalars.count
    var prefix = [UInt64](repeating: 0, count: count + 1)
    for index in 0..<count {
      prefix[index + 1] = prefix[index] &* prime &+ UInt64(scalars[index].value)
    }
    var suffix = [UInt64](repeating: 0, count: count + 1)
    var power = [UInt64](repeating: 1, count: count + 1)
    for index in stride(from: count - 1, through: 0, by: -1) {
      power[count - index] = power[count - index - 1] &* prime
      suffix[index] = UInt64(scalars[index].value) &* power[count - index - 1] &+ suffix[index + 1]
    }
    keys.removeAll(keepingCapacity: true)
    keys.append(prefix[count] ^ (UInt64(count) << 58))
    for index in 0..<count {
      let deleted = prefix[index] &* power[count - 1 - index] &+ suffix[index + 1]
      keys.append(deleted ^ (UInt64(count - 1) << 58))
    }
  }

  /// The candidate nearest to `name`, if it is close enough to be a plausible typo.
  public func closest(to name: String) -> String? {
    let target = Array(name.lowercased().unicodeScalars)
    guard target.count <= 64 else { return nil }
    let allowed = Suggestion.allowedDistance(target.count)
    var best: (number: Int, distance: Int)?
    func consider(_ number: Int) {
      let other = lowered[number]
      guard abs(other.count - target.count) <= allowed else { return }
      let limit = best.map { Swift.min(allowed, $0.distance) } ?? allowed
      guard let distance = Suggestion.editDistance(target, other, atMost: limit) else { return }
      if distance <= allowed,
        best == nil || distance < best!.distance
          || (distance == best!.distance && number < best!.number)
      {
        best = (number, distance)
      }
    }
    var tried: Set<Int> = []
    var keys: [UInt64] = []
    Self.keys(target, into: &keys)
    for key in keys {
      for number in neighbours[key] ?? [] where tried.insert(Int(number)).inserted {
        consider(Int(number))
      }
    }
    if best == nil, allowed > 1, scanBudget >= names.count {
      scanBudget -= names.count
      for number in names.indices where !tried.contains(number) { consider(number) }
    }
    return best.map { names[$0.number] }
  }

  /// " (did you mean 'x'?)" or "".
  public func hint(for name: String) -> String {
    closest(to: name).map { " (did you mean '\($0)'?)" } ?? ""
  }
}
