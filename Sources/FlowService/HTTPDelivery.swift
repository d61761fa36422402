public import AccountSecurity
internal import AsyncHTTPClient
internal import Crypto
internal import FlowEngine
internal import Foundation
internal import NIOCore
internal import NIOHTTP1

/// Delivers outbox messages to SMS and email providers over HTTP (SECURITY.md 32): a JSON
/// body POSTed to the channel's endpoint, signed with HMAC-SHA256 over the timestamp and the
/// body, and carrying the delivery's idempotency key, so a provider that is sent the same
/// message twice (at least once: a lost answer is retried) can drop the copy. The code travels
/// only in the body: never in the URL, a header or a log.
public final class HTTPDeliveryProvider: DeliveryProvider {
  /// The header that carries `sha256=` and the hex HMAC of `TIMESTAMP.BODY`.
  public static let signatureHeader = "X-Flow-Signature"
  /// The header that carries the Unix time the request was signed at.
  public static let timestampHeader = "X-Flow-Timestamp"

  let endpoints: [OutboundMessage.Channel: String]
  let key: [UInt8]
  let timeout: Int64
  let client: HTTPClient

  /// `endpoints` by channel (http or https URLs); `key` signs every request; `timeout` (in
  /// milliseconds) bounds each one.
  public init(
    endpoints: [OutboundMessage.Channel: String], key: [UInt8], timeoutMilliseconds: Int64
  ) {
    self.endpoints = endpoints
    self.key = key
    self.timeout = timeoutMilliseconds
    var configuration = HTTPClient.Configuration()
    configuration.redirectConfiguration = .disallow
    self.client = HTTPClient(
      eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
  }

  /// Closes the client's connections; call once, when the service stops.
  public func shutdown() async {
    try? await client.shutdown()
  }

  /// The JSON a provider receives.
  struct Body: Encodable {
    var key: String
    var channel: String
    var to: String
    var subject: String?
    var body: String
  }

  /// The request body and its signature headers, for `message` at `time` (Unix seconds).
  public func signed(_ message: OutboundMessage, at time: Int) throws -> (
    body: [UInt8], headers: [(String, String)]
  ) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let body = [UInt8](
      try encoder.encode(
        Body(
          key: message.key, channel: message.channel.rawValue, to: message.destination,
          subject: message.subject, body: message.body)))
    return (
      body,
      [
        ("Content-Type", "application/json"),
        ("Idempotency-Key", message.key),
        (Self.timestampHeader, String(time)),
        (Self.signatureHeader, "sha256=" + Self.signature(body, at: time, key: key)),
      ]
    )
  }

  /// The hex HMAC-SHA256 of `TIMESTAMP.` followed by the body.
  public static func signature(_ body: [UInt8], at time: Int, key: [UInt8]) -> String {
    var mac = HMAC<SHA256>(key: SymmetricKey(data: key))
    mac.update(data: Array("\(time).".utf8))
    mac.update(data: body)
    return SessionKey.hex(Array(mac.finalize()))
  }

  public func deliver(_ message: OutboundMessage) async throws {
    guard let endpoint = endpoints[message.channel] else {
      throw DeliveryError("no endpoint for \(message.channel.rawValue)")
    }
    let (body, headers) = try signed(message, at: Int(Date().timeIntervalSince1970))
    var request = HTTPClientRequest(url: endpoint)
    request.method = .POST
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    request.body = .bytes(ByteBuffer(bytes: body))
    let response: HTTPClientResponse
    do {
      response = try await client.execute(request, timeout: .milliseconds(timeout))
    } catch let error as HTTPClientError where error == .deadlineExceeded {
      throw DeliveryError("the provider did not answer within \(timeout) ms")
    } catch {
      throw DeliveryError("the provider could not be reached (\(type(of: error)))")
    }
    // The answer's body is read (and dropped) so the connection can be used again.
    _ = try? await response.body.collect(upTo: 64 * 1024)
    guard (200..<300).contains(response.status.code) else {
      throw DeliveryError("the provider answered \(response.status.code)")
    }
  }
}

/// A delivery that did not go through: what the provider did, never the message.
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
  public var description: String

  public init(_ description: String) {
    self.description = description
  }
}
