/// Bounds on what a flow file may ask of the loader, so hostile or broken input fails fast with a
/// clear error instead of exhausting time or memory. Every limit can be raised by the host.
public struct LoadLimits: Sendable, Hashable {
  /// Largest file accepted, in bytes.
  public var maxFileBytes: Int
  /// Deepest nesting of mappings and sequences.
  public var maxDepth: Int
  /// Most YAML nodes after expanding aliases (what stops "billion laughs" documents).
  public var maxNodes: Int
  /// Longest single scalar, in bytes.
  public var maxScalarBytes: Int
  /// Most states in one flow.
  public var maxStates: Int
  /// Most transitions in one flow (`on` and `always` together).
  public var maxTransitions: Int
  /// Longest guard expression, in characters.
  public var maxExpressionLength: Int

  public init(
    maxFileBytes: Int = 16 * 1024 * 1024,
    maxDepth: Int = 64,
    maxNodes: Int = 1_000_000,
    maxScalarBytes: Int = 64 * 1024,
    maxStates: Int = 10_000,
    maxTransitions: Int = 100_000,
    maxExpressionLength: Int = 2_000
  ) {
    self.maxFileBytes = maxFileBytes
    self.maxDepth = maxDepth
    self.maxNodes = maxNodes
    self.maxScalarBytes = maxScalarBytes
    self.maxStates = maxStates
    self.maxTransitions = maxTransitions
    self.maxExpressionLength = maxExpressionLength
  }

  /// The defaults: generous for hand-written flows, tight enough to refuse hostile ones.
  public static let standard = LoadLimits()

  /// For generated flows such as benchmarks: sizes grow, the structural protections stay.
  public static let large = LoadLimits(
    maxFileBytes: 256 * 1024 * 1024, maxNodes: 50_000_000, maxStates: 1_000_000,
    maxTransitions: 10_000_000)
}
