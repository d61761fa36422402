internal import Crypto
internal import Foundation

/// Turns a validated `FlowDefinition` into a `CompiledFlow`.
///
/// Only valid definitions reach it (`FlowDocument.definition` is nil otherwise), so it trusts
/// every name to resolve and every expression to type-check.
public enum FlowCompiler {
  public static func compile(_ document: FlowDocument) -> CompiledFlow? {
    guard let definition = document.definition else { return nil }
    return compile(
      definition, catalog: document.catalog, contentHash: document.contentHash,
      sourceBytes: document.bytes)
  }

  /// SHA-256 of `bytes`, in lowercase hex.
  public static func hash(_ bytes: [UInt8]) -> String {
    SessionKey.hex(Array(SHA256.hash(data: bytes)))
  }

  public static func compile(
    _ definition: FlowDefinition, catalog: Catalog, contentHash: String, sourceBytes: [UInt8] = []
  ) -> CompiledFlow {
    var builder = Builder(definition: definition, catalog: catalog)
    return builder.build(contentHash: contentHash, sourceBytes: sourceBytes)
  }

  private struct Builder {
    let definition: FlowDefinition
    let catalog: Catalog
    var slots: [CompiledFlow.Slot] = []
    var slotIndex: [String: Int] = [:]
    var payloadFields: [CompiledFlow.PayloadSlot] = []
    var payloadIndex: [String: Int] = [:]
    var stateIndex: [String: Int] = [:]
    var eventIndex: [String: Int] = [:]
    var guards: [String: Expression] = [:]
    var settings: [String: Value] = [:]
    var context: [(name: String, type: ValueType)] = []

    init(definition: FlowDefinition, catalog: Catalog) {
      self.definition = definition
      self.catalog = catalog
    }

    mutating func build(contentHash: String, sourceBytes: [UInt8]) -> CompiledFlow {
      for field in definition.context {
        guard let type = catalog.types[field.type.value] else { continue }
        context.append((field.name.value, type))
        addSlots(named: field.name.value, type: type, kind: .fact)
      }
      let called = Set(
        definition.states.flatMap { state in
          state.allTransitions.flatMap { $0.actions.map(\.name.value) }
        } + (definition.deadline?.transition.actions.map(\.name.value) ?? []))
      for name in called.sorted() {
        guard let signature = catalog.actions[name] else { continue }
        for field in signature.result {
          addSlots(named: "\(name).\(field.name)", type: field.type, kind: .result)
          if let since = signature.resultsSince[field.name] { slots[slots.count - 1].since = since }
        }
      }
      for setting in definition.settings { settings[setting.name.value] = setting.value.value }
      for guardDefinition in definition.guards {
        if let parsed = guardDefinition.expression.parsed {
          guards[guardDefinition.name.value] = parsed
        }
      }
      for (index, state) in definition.states.enumerated() { stateIndex[state.name.value] = index }
      var events: [CompiledEvent] = []
      for (index, event) in definition.events.enumerated() {
        eventIndex[event.name.value] = index
        var fields: [(name: String, type: ValueType, slot: Int)] = []
        for field in event.fields {
          guard let type = catalog.types[field.type.value] else { continue }
          let slot =
            payloadIndex[field.name.value]
            ?? {
              payloadFields.append(.init(name: field.name.value, type: type))
              return payloadFields.count - 1
            }()
          payloadIndex[field.name.value] = slot
          fields.append((field.name.value, type, slot))
        }
        events.append(CompiledEvent(name: event.name.value, fields: fields))
      }
      let states = definition.states.map { state in
        var handlers = [[CompiledTransition]](repeating: [], count: events.count)
        for handler in state.on {
          guard let event = eventIndex[handler.event.value] else { continue }
          handlers[event] = handler.transitions.map { transition($0) }
        }
        let timers = state.after.enumerated().map { index, timer in
          CompiledTimer(
            seconds: definition.seconds(of: timer.delay.value) ?? 1, index: index,
            transition: transition(timer.transition))
        }
        return CompiledState(
          name: state.name.value, isFinal: state.isFinal, outcome: state.outcome?.value,
          description: state.description, handlers: handlers,
          always: state.always.map { transition($0) },
          acceptedEvents: state.on.map(\.event.value).sorted(), timers: timers)
      }
      let deadline = definition.deadline.map { timer in
        CompiledTimer(
          seconds: definition.seconds(of: timer.delay.value) ?? 1, index: 0,
          transition: transition(timer.transition))
      }
      return CompiledFlow(
        id: definition.id.value, version: definition.version.value, title: definition.title.value,
        contentHash: contentHash, sourceBytes: sourceBytes, catalog: catalog,
        definition: definition, states: states,
        stateIndex: stateIndex, start: stateIndex[definition.start.value] ?? 0, events: events,
        eventIndex: eventIndex, slots: slots, slotIndex: slotIndex, payloadFields: payloadFields,
        payloadIndex: payloadIndex, context: context,
        checks: definition.checks.compactMap { check($0) }, deadline: deadline,
        messages: FlowMessages(definitions: definition.messages, catalog: catalog.messages))
    }

    private func check(_ check: CheckDefinition) -> CompiledCheck? {
      let kind: CompiledCheck.Kind
      switch check.kind {
      case .reachesVia(let state, let via):
        guard let state = stateIndex[state.value], let via = stateIndex[via.value] else {
          return nil
        }
        kind = .reachesVia(state: state, via: via)
      case .reachesWhen(let state, let source):
        guard let state = stateIndex[state.value], let condition = condition(source) else {
          return nil
        }
        kind = .reachesWhen(state: state, condition: condition)
      case .performsWhen(let action, let source):
        guard let condition = condition(source) else { return nil }
        kind = .performsWhen(action: action.value, condition: condition)
      case .holdsIn(let state, let source):
        guard let state = stateIndex[state.value], let condition = condition(source) else {
          return nil
        }
        kind = .holdsIn(state: state, condition: condition)
      case .canReach(let state, let source):
        guard let state = stateIndex[state.value] else { return nil }
        var when: CompiledCondition?
        if let source {
          guard let condition = condition(source) else { return nil }
          when = condition
        }
        kind = .canReach(state: state, when: when)
      case .finalReachable: kind = .finalReachable
      case .noDeadEnds: kind = .noDeadEnds
      }
      return CompiledCheck(name: check.name.value, kind: kind, location: check.location)
    }

    /// Records and their nested records become one slot per leaf: `actor.twoFactor.enabled`.
    private mutating func addSlots(
      named name: String, type: ValueType, kind: CompiledFlow.Slot.Kind
    ) {
      if case .record(let record) = type {
        for field in record.fields {
          addSlots(named: "\(name).\(field.name)", type: field.type, kind: kind)
        }
        return
      }
      slotIndex[name] = slots.count
      slots.append(.init(name: name, type: type, kind: kind))
    }

    private func condition(_ source: GuardSource) -> CompiledCondition? {
      guard let parsed = source.parsed else { return nil }
      var inputs: [Operand] = []
      var used: [String] = []
      let expression = compile(parsed, inputs: &inputs, guardsUsed: &used)
      let named = used.map { name -> (name: String, expression: CompiledExpression) in
        var ignoredInputs: [Operand] = []
        var ignoredGuards: [String] = []
        return (name, compile(guards[name]!, inputs: &ignoredInputs, guardsUsed: &ignoredGuards))
      }
      return CompiledCondition(
        expression: expression, text: source.text, inputs: inputs, guards: named)
    }

    private func transition(_ transition: TransitionDefinition) -> CompiledTransition {
      let condition = transition.guardSource.flatMap { self.condition($0) }
      let actions = transition.actions.map { call -> CompiledAction in
        let signature = catalog.actions[call.name.value]
        let arguments = call.arguments.compactMap {
          argument -> (name: String, value: CompiledExpression)? in
          guard let parsed = argument.source.parsed else { return nil }
          var inputs: [Operand] = []
          var used: [String] = []
          return (argument.name.value, compile(parsed, inputs: &inputs, guardsUsed: &used))
        }
        let results = (signature?.result ?? []).compactMap { field -> (field: String, slot: Int)? in
          slotIndex["\(call.name.value).\(field.name)"].map { (field.name, $0) }
        }
        return CompiledAction(name: call.name.value, arguments: arguments, results: results)
      }
      return CompiledTransition(
        target: stateIndex[transition.target.value] ?? 0, condition: condition, actions: actions,
        description: transition.description, location: transition.location,
        isUnreachable: transition.isUnreachable)
    }

    /// Compiles with named guards inlined; `inputs` and `guardsUsed` collect what it reads.
    private func compile(
      _ expression: Expression, inputs: inout [Operand], guardsUsed: inout [String]
    )
      -> CompiledExpression
    {
      switch expression.kind {
      case .literal(let value):
        return .constant(value)
      case .path(let parts):
        if parts.count == 1, let named = guards[parts[0]] {
          if !guardsUsed.contains(parts[0]) { guardsUsed.append(parts[0]) }
          return compile(named, inputs: &inputs, guardsUsed: &guardsUsed)
        }
        let operand: Operand
        if parts[0] == "settings", parts.count == 2 {
          return .constant(settings[parts[1]] ?? .bool(false))
        } else if parts[0] == "event", parts.count >= 2, let slot = payloadIndex[parts[1]] {
          operand = .payload(slot)
        } else if let slot = slotIndex[parts.joined(separator: ".")] {
          operand = .slot(slot)
        } else {
          return .constant(.bool(false))
        }
        if !inputs.contains(operand) { inputs.append(operand) }
        return .read(operand)
      case .not(let operand):
        return .not(compile(operand, inputs: &inputs, guardsUsed: &guardsUsed))
      case .and(let lhs, let rhs):
        return .and(
          compile(lhs, inputs: &inputs, guardsUsed: &guardsUsed),
          compile(rhs, inputs: &inputs, guardsUsed: &guardsUsed))
      case .or(let lhs, let rhs):
        return .or(
          compile(lhs, inputs: &inputs, guardsUsed: &guardsUsed),
          compile(rhs, inputs: &inputs, guardsUsed: &guardsUsed))
      case .comparison(let op, let lhs, let rhs):
        return .compare(
          op, compile(lhs, inputs: &inputs, guardsUsed: &guardsUsed),
          compile(rhs, inputs: &inputs, guardsUsed: &guardsUsed))
      case .membership(let value, let items):
        let values = items.compactMap { item -> Value? in
          if case .literal(let literal) = item.kind { return literal }
          return nil
        }
        return .member(compile(value, inputs: &inputs, guardsUsed: &guardsUsed), values)
      }
    }
  }
}
