#!/usr/bin/env bash
# Checks that the JSON Schemas in schemas/ agree with the loaders on the checked-in files:
#   1. each schema (flow, world, events, scenario) is itself a valid JSON Schema (draft 2020-12);
#   2. every shipped flow (flows/*.yaml) and every valid fixture (Tests/Fixtures/valid/*.yaml)
#      starts with the editor's schema line pointing at schemas/flow.schema.json, and passes it;
#   3. every example (examples/*.yaml) starts with `# yaml-language-server: $schema=...`
#      pointing at the world or the events schema, and passes the schema it names; every
#      scenario (scenarios/*.yaml) starts with that line pointing at schemas/scenario.schema.json,
#      and passes it;
#   4. every fixture in Tests/Fixtures/invalid-schema/ (flow), invalid-world/ (world),
#      invalid-events/ (events) and invalid-scenario/ (scenario) fails its schema, each file on
#      its own;
#   5. when flowctl is built, every invalid world and events fixture also makes `flowctl run`,
#      and every invalid scenario fixture `flowctl test`, exit 1 with exactly the diagnostics in
#      its .expected file (stderr, NO_COLOR=1, run from the repository root; regenerate with the
#      commands shown on a mismatch).
# Needs check-jsonschema on PATH (CI: pip install check-jsonschema); installs nothing. Step 5
# uses $FLOWCTL (an absolute path) or else .build/debug/flowctl, and is skipped with a note
# in the summary when neither is built.
# Exit status: 0 all agree; 1 a file disagrees with its schema or expected output; 2 the
# check could not run (tool or schema missing).
# Usage: scripts/check-schemas.sh   (works from any directory)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd -P)
shopt -s nullglob

flow_schema=schemas/flow.schema.json
world_schema=schemas/world.schema.json
events_schema=schemas/events.schema.json
scenario_schema=schemas/scenario.schema.json
schemas=("$flow_schema" "$world_schema" "$events_schema" "$scenario_schema")
id_prefix=https://flowengine.example/

if ! command -v check-jsonschema >/dev/null 2>&1; then
  echo "check-schemas: check-jsonschema not found on PATH; install it with: pip install check-jsonschema" >&2
  exit 2
fi
for schema in "${schemas[@]}"; do
  if [ ! -f "$schema" ]; then
    echo "check-schemas: $schema not found" >&2
    exit 2
  fi
done

# 1. The schemas are themselves valid.
for schema in "${schemas[@]}"; do
  if ! output=$(check-jsonschema --check-metaschema "$schema" 2>&1); then
    echo "FAIL: $schema is not a valid JSON Schema:"
    echo "$output" | sed 's/^/    /'
    exit 1
  fi
done

header_failed=0
valid_failed=0
invalid_passed=0
parse_rejected=0
expected_failed=0

# The schema a file's first line names (`# yaml-language-server: $schema=PATH`), as a path
# from the repository root; empty when the line is missing or names no schema in schemas/.
# PATH is relative to the file, or the schema's $id (https://flowengine.example/schemas/...).
schema_of() {
  local file=$1 first ref dir schema
  IFS= read -r first <"$file" || true
  first=${first%$'\r'}
  if [[ ! $first =~ ^#[[:space:]]*yaml-language-server:[[:space:]]*\$schema=([^[:space:]]+)[[:space:]]*$ ]]; then
    return 0
  fi
  ref=${BASH_REMATCH[1]}
  if [[ $ref == "$id_prefix"* ]]; then
    ref=${ref#"$id_prefix"}
  else
    dir=$(cd "$(dirname "$file")" && cd "$(dirname "$ref")" 2>/dev/null && pwd -P) || return 0
    [[ $dir == "$root"/* ]] || return 0
    ref=${dir#"$root"/}/$(basename "$ref")
  fi
  for schema in "${schemas[@]}"; do
    if [ "$ref" = "$schema" ]; then
      echo "$schema"
      return 0
    fi
  done
}

# 2 and 3. Sort the valid files by the schema they must pass, checking their first lines.
flow_files=()
world_files=()
events_files=()
scenario_files=()
for file in flows/*.yaml Tests/Fixtures/valid/*.yaml examples/*.yaml scenarios/*.yaml; do
  schema=$(schema_of "$file")
  up=$(dirname "$file" | sed -e 's|[^/][^/]*|..|g')
  case "$file" in
    examples/*) allowed=("$world_schema" "$events_schema") ;;
    scenarios/*) allowed=("$scenario_schema") ;;
    *) allowed=("$flow_schema") ;;
  esac
  ok=0
  for candidate in "${allowed[@]}"; do
    if [ -n "$schema" ] && [ "$schema" = "$candidate" ]; then ok=1; fi
  done
  if [ "$ok" -eq 0 ]; then
    wanted=$up/${allowed[0]}
    if [ ${#allowed[@]} -gt 1 ]; then wanted+=" or $up/${allowed[1]}"; fi
    echo "FAIL: $file must start with '# yaml-language-server: \$schema=$wanted';" \
      "found: $(head -n 1 "$file")"
    header_failed=$((header_failed + 1))
    continue
  fi
  case "$schema" in
    "$flow_schema") flow_files+=("$file") ;;
    "$world_schema") world_files+=("$file") ;;
    "$events_schema") events_files+=("$file") ;;
    "$scenario_schema") scenario_files+=("$file") ;;
  esac
done

# Valid files pass. One run per schema; only when it fails, one run per file to name them.
check_valid() {
  local schema=$1 file output
  shift
  [ $# -gt 0 ] || return 0
  check-jsonschema --quiet --schemafile "$schema" "$@" >/dev/null 2>&1 && return 0
  for file in "$@"; do
    if ! output=$(check-jsonschema --schemafile "$schema" "$file" 2>&1); then
      echo "FAIL: $file should pass $schema but does not:"
      echo "$output" | sed 's/^/    /'
      valid_failed=$((valid_failed + 1))
    fi
  done
}
check_valid "$flow_schema" ${flow_files[@]+"${flow_files[@]}"}
check_valid "$world_schema" ${world_files[@]+"${world_files[@]}"}
check_valid "$events_schema" ${events_files[@]+"${events_files[@]}"}
check_valid "$scenario_schema" ${scenario_files[@]+"${scenario_files[@]}"}
valid_count=$((${#flow_files[@]} + ${#world_files[@]} + ${#events_files[@]} + ${#scenario_files[@]}))

# 4. Invalid fixtures fail, each on its own (one run over all of them fails if any one does).
check_invalid() {
  local schema=$1 file status output
  shift
  for file in "$@"; do
    status=0
    output=$(check-jsonschema --output-format json --schemafile "$schema" "$file" 2>&1) || status=$?
    if [ "$status" -eq 0 ]; then
      echo "FAIL: $file should be rejected by $schema but passes it"
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
}
invalid_flows=(Tests/Fixtures/invalid-schema/*.yaml)
invalid_worlds=(Tests/Fixtures/invalid-world/*.yaml)
invalid_events=(Tests/Fixtures/invalid-events/*.yaml)
invalid_scenarios=(Tests/Fixtures/invalid-scenario/*.yaml)
check_invalid "$flow_schema" ${invalid_flows[@]+"${invalid_flows[@]}"}
check_invalid "$world_schema" ${invalid_worlds[@]+"${invalid_worlds[@]}"}
check_invalid "$events_schema" ${invalid_events[@]+"${invalid_events[@]}"}
check_invalid "$scenario_schema" ${invalid_scenarios[@]+"${invalid_scenarios[@]}"}
invalid_count=$((${#invalid_flows[@]} + ${#invalid_worlds[@]} + ${#invalid_events[@]} + ${#invalid_scenarios[@]}))

# 5. The loaders reject the invalid world, events and scenario fixtures too, as their .expected
#    files say.
flowctl=${FLOWCTL:-.build/debug/flowctl}
run_flow=flows/update-own-2fa-phone.yaml
expected_note=""
if [ ! -x "$flowctl" ]; then
  expected_note="flowctl outputs not checked: $flowctl not built (swift build)"
else
  for file in ${invalid_worlds[@]+"${invalid_worlds[@]}"} ${invalid_events[@]+"${invalid_events[@]}"} \
    ${invalid_scenarios[@]+"${invalid_scenarios[@]}"}; do
    case "$file" in
      Tests/Fixtures/invalid-world/*) args=(run "$run_flow" --world "$file" --actor ada) ;;
      Tests/Fixtures/invalid-scenario/*) args=(test "$file") ;;
      *) args=(run "$run_flow" --world examples/team.yaml --actor ada --events "$file") ;;
    esac
    expected=${file%.yaml}.expected
    command_line="NO_COLOR=1 $flowctl ${args[*]}"
    status=0
    actual=$(NO_COLOR=1 "$flowctl" "${args[@]}" 2>&1 >/dev/null </dev/null) || status=$?
    if [ "$status" -ne 1 ] || ! grep -qE "^$file:[0-9]+:[0-9]+: error" <<<"$actual"; then
      echo "FAIL: $command_line should exit 1 with a $file:LINE:COLUMN error; exit $status, stderr:"
      echo "$actual" | sed 's/^/    /'
      expected_failed=$((expected_failed + 1))
    elif [ ! -f "$expected" ]; then
      echo "FAIL: $expected is missing; create it with: $command_line 2>$expected"
      expected_failed=$((expected_failed + 1))
    elif [ "$actual" != "$(cat "$expected")" ]; then
      echo "FAIL: $command_line does not print $expected:"
      diff <(cat "$expected") <(echo "$actual") | sed 's/^/    /' || true
      echo "    (if the new output is right: $command_line 2>$expected)"
      expected_failed=$((expected_failed + 1))
    fi
  done
fi

invalid_total=$((${#invalid_worlds[@]} + ${#invalid_events[@]} + ${#invalid_scenarios[@]}))
if [ $((header_failed + valid_failed + invalid_passed + expected_failed)) -gt 0 ]; then
  summary="schema agreement FAILED: $header_failed files without the right \$schema line,"
  summary+=" $valid_failed of $valid_count valid files rejected,"
  summary+=" $invalid_passed of $invalid_count invalid files accepted"
  if [ -z "$expected_note" ]; then
    summary+=", $expected_failed of $invalid_total flowctl outputs differ"
  fi
  echo "$summary"
  exit 1
fi
summary="schema agreement: $valid_count valid passed (flows: ${#flow_files[@]}, worlds: ${#world_files[@]},"
summary+=" events: ${#events_files[@]}, scenarios: ${#scenario_files[@]}), $invalid_count invalid rejected"
if [ "$parse_rejected" -gt 0 ]; then
  summary+=" ($parse_rejected of them by the YAML parser)"
fi
if [ -n "$expected_note" ]; then
  summary+="; $expected_note"
else
  summary+="; flowctl output matched for $invalid_total invalid world, events and scenario files"
fi
echo "$summary"
