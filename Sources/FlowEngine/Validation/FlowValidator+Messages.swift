extension ValidationRun {
  /// `messages:` templates name a message, variant and channel of the catalog, have the shape
  /// of their channel, use only their message's placeholders (a secret such as `{code}` only in
  /// the message that carries it), use its required ones, and hold nothing the catalog's lint
  /// refuses (a full phone number).
  mutating func checkMessages() {
    let catalog = catalog.messages
    let names = catalog.signatures.map(\.name)
    var seen: Set<String> = []
    for template in definition.messages {
      guard let signature = catalog.signature(named: template.name.value) else {
        report(
          .unknownKey,
          "unknown message '\(template.name.value)'\(Suggestion.hint(for: template.name.value, in: names)); the services send: \(names.joined(separator: ", "))",
          at: template.name.location, length: template.name.value.count)
        continue
      }
      let channels = catalog.channels.map(\.name)
      if let variant = template.variant, !signature.variants.contains(variant.value) {
        let known = signature.variants + channels
        report(
          .unknownKey,
          "'\(variant.value)' is neither a channel nor a variant of '\(signature.name)'\(Suggestion.hint(for: variant.value, in: known)); channels: \(channels.joined(separator: ", "))\(signature.variants.isEmpty ? "" : "; variants: " + signature.variants.joined(separator: ", "))",
          at: variant.location, length: variant.value.count)
        continue
      }
      guard let channel = catalog.channel(named: template.channel.value) else {
        let known = template.variant == nil ? channels + signature.variants : channels
        report(
          .unknownKey,
          "unknown channel '\(template.channel.value)' for '\(signature.name)'\(Suggestion.hint(for: template.channel.value, in: known)); channels: \(channels.joined(separator: ", "))\(template.variant == nil && !signature.variants.isEmpty ? "; variants: " + signature.variants.joined(separator: ", ") : "")",
          at: template.channel.location, length: template.channel.value.count)
        continue
      }
      let key = "\(signature.name)|\(template.variant?.value ?? "")|\(channel.name)"
      if !seen.insert(key).inserted {
        report(
          .nameConflict,
          "a second '\(channel.name)' template for '\(signature.name)'\(template.variant.map { " (\($0.value))" } ?? "")",
          at: template.channel.location, length: template.channel.value.count)
      }
      if channel.hasSubject, template.subject == nil {
        report(
          .missingKey,
          "an \(channel.name) template needs a subject and a body: write { subject: \"…\", body: \"…\" }",
          at: template.location)
      } else if !channel.hasSubject, template.hasParts {
        report(
          .wrongType,
          "an \(channel.name) message is one text, with no subject: write the text itself",
          at: template.location)
      }
      if let subject = template.subject {
        checkTemplateText(subject, of: signature, isBody: false)
      }
      checkTemplateText(template.body, of: signature, isBody: true)
    }
  }

  private mutating func checkTemplateText(
    _ source: GuardSource, of signature: MessageSignature, isBody: Bool
  ) {
    let (names, stray) = MessageTemplate.scan(source.text)
    for offset in stray {
      report(
        .messagePlaceholder,
        "a brace that opens or closes no placeholder; placeholders are written {name}",
        at: source.location(ofOffset: offset))
    }
    let allowed = signature.placeholders.map(\.name)
    let secrets = catalog.messages.secretPlaceholders
    for (name, offset) in names where !allowed.contains(name) {
      let at = source.location(ofOffset: offset)
      if secrets.contains(name) {
        let carriers = catalog.messages.signatures.filter {
          $0.placeholders.contains { $0.name == name && $0.isSecret }
        }.map(\.name)
        report(
          .messageSecret,
          "'{\(name)}' may appear only in \(carriers.map { "'\($0)'" }.joined(separator: ", ")) messages; '\(signature.name)' must never carry it",
          at: at, length: name.count + 2)
      } else {
        report(
          .messagePlaceholder,
          "unknown placeholder '{\(name)}'\(Suggestion.hint(for: name, in: allowed)); '\(signature.name)' may use: \(allowed.map { "{\($0)}" }.joined(separator: ", "))",
          at: at, length: name.count + 2)
      }
    }
    if isBody {
      for required in signature.required where !names.contains(where: { $0.0 == required }) {
        report(
          .messagePlaceholder,
          "a '\(signature.name)' message must contain {\(required)}",
          at: source.location, length: max(1, min(source.text.unicodeScalars.count, 40)))
      }
    }
    for problem in catalog.messages.lint(source.text) {
      report(
        .messageFullNumber, problem.message, at: source.location(ofOffset: problem.offset),
        length: problem.length)
    }
  }
}
