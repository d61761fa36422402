import Foundation
import Testing

@testable import FlowService

@Suite("the service's JSON writer")
struct JSONWriterTests {
  static var samples: [Any] {
    [
      [
        "session": [
          "id": "a1/b2", "seq": 12, "final": false, "outcome": NSNull(),
          "allowedEvents": [["name": "save", "fields": [] as [Any]]],
        ] as [String: Any],
        "step": ["effects": ["sendCode", "notify"], "timers": [] as [Any]],
      ] as [String: Any],
      [
        "error": [
          "message": "quote \" backslash \\ newline \n tab \t return \r bell \u{07} del \u{7F}",
          "field": "payload.é — ünïcødé 🙂", "ok": true, "count": -3,
        ]
      ],
      ["nested": [[1, 2, [3, ["x": "y"]]], [] as [Any], [:] as [String: Any]]],
    ]
  }

  @Test("writes byte for byte what JSONSerialization wrote (sorted keys), for each sample")
  func sameBytes() throws {
    for sample in Self.samples {
      let expected = try JSONSerialization.data(withJSONObject: sample, options: [.sortedKeys])
      let written = JSONWriter.bytes(sample)
      #expect(
        String(decoding: written, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
    }
  }

  @Test("a Foundation number is written as its value")
  func unknownValues() throws {
    let sample: [String: Any] = ["date": NSNumber(value: 2.5), "text": "a"]
    let written = JSONWriter.bytes(sample)
    let parsed = try #require(
      try JSONSerialization.jsonObject(with: Data(written)) as? [String: Any])
    #expect(parsed["text"] as? String == "a")
    #expect((parsed["date"] as? NSNumber)?.doubleValue == 2.5)
  }
}
