#!/usr/bin/env bash
# Regenerates Tests/Fixtures/<folder>/<name>.expected from the current flowctl build.
# Golden files: review every diff before committing it (git diff Tests/Fixtures).
# Usage: scripts/update-expected.sh [FIXTURE.yaml ...]   (default: every invalid fixture)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flowctl=${FLOWCTL:-$root/.build/debug/flowctl}
[ -x "$flowctl" ] || { echo "build first: swift build" >&2; exit 1; }
if [ $# -eq 0 ]; then
  set -- "$root"/Tests/Fixtures/invalid/*.yaml "$root"/Tests/Fixtures/invalid-schema/*.yaml
fi
for fixture in "$@"; do
  dir=$(dirname "$fixture"); name=$(basename "$fixture")
  # Drop the summary line; the fixture test renders diagnostics only.
  (cd "$dir" && NO_COLOR=1 "$flowctl" validate --quiet "$name" || true) | sed '$d' > "$dir/${name%.yaml}.expected"
done
