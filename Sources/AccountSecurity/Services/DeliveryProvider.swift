/// Where outbox messages go after their step commits: an SMS or email provider. A message may
/// be handed over more than once (delivery is at least once); its `key` is the same every time,
/// so a provider drops duplicates (SECURITY.md 32).
public protocol DeliveryProvider: Sendable {
  func deliver(_ message: OutboundMessage) async throws
}
