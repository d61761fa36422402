#!/usr/bin/env bash
# Checks that schemas/flow.schema.json agrees with the flow loader on the checked-in files:
#   1. the schema itself is a valid JSON Schema (draft 2020-12);
#   2. every shipped flow (flows/*.yaml) and every valid fixture (Tests/Fixtures/valid/*.yaml)
#      passes the schema;
#   3. every fixture in Tests/Fixtures/invalid-schema/*.yaml fails it, each file on its own.
# Needs check-jsonschema on PATH (CI: pip install check-jsonschema); installs nothing.
# Usage: scripts/check-schemas.sh   (works from any directory)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shopt -s nullglob

schema=schemas/flow.schema.json

if ! command -v check-jsonschema >/dev/null 2>&1; then
  echo "check-schemas: check-jsonschema not found on PATH; install it with: pip install check-jsonschema" >&2
  exit 2
fi
if [ ! -f "$schema" ]; then
  echo "check-schemas: $schema not found" >&2
  exit 2
fi

# 1. The schema is itself valid.
if ! output=$(check-jsonschema --check-metaschema "$schema" 2>&1); then
  echo "FAIL: $schema is not a valid JSON Schema:"
  echo "$output" | sed 's/^/    /'
  exit 1
fi

valid=(flows/*.yaml Tests/Fixtures/valid/*.yaml)
invalid=(Tests/Fixtures/invalid-schema/*.yaml)
valid_failed=0
invalid_passed=0
parse_rejected=0

# 2. Valid files pass. One run for all; only when it fails, one run per file to name them.
if [ ${#valid[@]} -gt 0 ] && ! check-jsonschema --quiet --schemafile "$schema" "${valid[@]}" >/dev/null 2>&1; then
  for file in "${valid[@]}"; do
    if ! output=$(check-jsonschema --schemafile "$schema" "$file" 2>&1); then
      echo "FAIL: $file should pass the schema but does not:"
      echo "$output" | sed 's/^/    /'
      valid_failed=$((valid_failed + 1))
    fi
  done
fi

# 3. Invalid fixtures fail, each on its own (one run over all of them fails if any one does).
for file in "${invalid[@]}"; do
  status=0
  output=$(check-jsonschema --output-format json --schemafile "$schema" "$file" 2>&1) || status=$?
  if [ "$status" -eq 0 ]; then
    echo "FAIL: $file should be rejected by the schema but passes it"
    invalid_passed=$((invalid_passed + 1))
  elif ! grep -q '"status"' <<<"$output"; then
    echo "ERROR: check-jsonschema did not run properly on $file:" >&2
    echo "$output" | sed 's/^/    /' >&2
    exit 2
  elif grep -q '"errors": \[\]' <<<"$output"; then
    # Rejected before the schema applies: the YAML itself did not parse (for example a
    # duplicate key). Editors reject it too, so it counts, but say so.
    echo "note: $file is rejected by the YAML parser, not by the schema"
    parse_rejected=$((parse_rejected + 1))
  fi
done

if [ $((valid_failed + invalid_passed)) -gt 0 ]; then
  echo "schema agreement FAILED: $valid_failed of ${#valid[@]} valid files rejected," \
    "$invalid_passed of ${#invalid[@]} invalid files accepted"
  exit 1
fi
summary="schema agreement: ${#valid[@]} valid passed, ${#invalid[@]} invalid rejected"
if [ "$parse_rejected" -gt 0 ]; then
  summary+=" ($parse_rejected of them by the YAML parser)"
fi
echo "$summary"
