/// Every problem the loader and validator can report, with a stable code and a short name.
///
/// Codes never change meaning once shipped: tools and docs refer to them. New checks get new
/// codes. `docs/flow-language.md` has a wrong example and its fix for each.
public enum DiagnosticCode: String, Sendable, CaseIterable, Codable {
  // Reading the file
  case yamlSyntax = "E001"
  case tabIndentation = "E002"
  case invalidUTF8 = "E003"
  case limitExceeded = "E004"
  case duplicateKey = "E005"
  case unknownKey = "E006"
  case wrongType = "E007"
  case missingKey = "E008"
  case invalidName = "E009"
  case invalidValue = "E010"
  case nameConflict = "E011"
  // Names that must resolve
  case unknownStartState = "E012"
  case unknownState = "E013"
  case unknownGuard = "E014"
  case unknownAction = "E015"
  case unknownFact = "E016"
  case unknownEvent = "E017"
  case unknownPayloadField = "E018"
  case unknownType = "E019"
  case missingContext = "E020"
  // Guards
  case expressionSyntax = "E021"
  case typeMismatch = "E022"
  case guardCycle = "E023"
  case eventOutsideTransition = "E024"
  // Actions
  case actionArgument = "E025"
  // The shape of the state machine
  case deadEnd = "E026"
  case finalWithTransitions = "E027"
  case alwaysLoop = "E028"
  case missingOutcome = "E029"
  case mayGetStuck = "E030"
  case unreadableFile = "E031"
  case checkFailed = "E032"
  // Time
  case timerDelay = "E033"
  case timerInFinalState = "E034"
  // The catalog's rules and messages
  case actionRule = "E035"
  case messagePlaceholder = "E036"
  case messageSecret = "E037"
  case messageFullNumber = "E038"
  // Warnings
  case unreachableState = "W001"
  case shadowedTransition = "W002"
  case unusedGuard = "W003"
  case unusedEvent = "W004"
  case timerAfterDeadline = "W005"
  case timerNeverFires = "W006"

  /// The kebab-case name printed beside the code in docs and JSON output.
  public var name: String {
    switch self {
    case .yamlSyntax: "yaml-syntax"
    case .tabIndentation: "tab-indentation"
    case .invalidUTF8: "invalid-utf8"
    case .limitExceeded: "limit-exceeded"
    case .duplicateKey: "duplicate-key"
    case .unknownKey: "unknown-key"
    case .wrongType: "wrong-type"
    case .missingKey: "missing-key"
    case .invalidName: "invalid-name"
    case .invalidValue: "invalid-value"
    case .nameConflict: "name-conflict"
    case .unknownStartState: "unknown-start-state"
    case .unknownState: "unknown-state"
    case .unknownGuard: "unknown-guard"
    case .unknownAction: "unknown-action"
    case .unknownFact: "unknown-fact"
    case .unknownEvent: "unknown-event"
    case .unknownPayloadField: "unknown-payload-field"
    case .unknownType: "unknown-type"
    case .missingContext: "missing-context"
    case .expressionSyntax: "expression-syntax"
    case .typeMismatch: "type-mismatch"
    case .guardCycle: "guard-cycle"
    case .eventOutsideTransition: "event-outside-transition"
    case .actionArgument: "action-argument"
    case .deadEnd: "dead-end"
    case .finalWithTransitions: "final-with-transitions"
    case .alwaysLoop: "always-loop"
    case .missingOutcome: "missing-outcome"
    case .mayGetStuck: "may-get-stuck"
    case .unreadableFile: "unreadable-file"
    case .checkFailed: "check-failed"
    case .timerDelay: "timer-delay"
    case .timerInFinalState: "timer-in-final-state"
    case .actionRule: "action-rule"
    case .messagePlaceholder: "message-placeholder"
    case .messageSecret: "message-secret"
    case .messageFullNumber: "message-full-number"
    case .unreachableState: "unreachable-state"
    case .shadowedTransition: "shadowed-transition"
    case .unusedGuard: "unused-guard"
    case .unusedEvent: "unused-event"
    case .timerAfterDeadline: "timer-after-deadline"
    case .timerNeverFires: "timer-never-fires"
    }
  }

  /// Warnings do not stop a flow from loading; `flowctl validate --strict` fails on them.
  public var severity: Diagnostic.Severity {
    rawValue.hasPrefix("W") ? .warning : .error
  }
}
