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

  /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
  /// neighbouring letters ("titel" is one edit from "title").
  private static func editDistance(_ lhs: [Unicode.Scalar], _ rhs: [Unicode.Scalar]) -> Int {
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
