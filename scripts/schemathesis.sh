#!/usr/bin/env bash
# schemathesis against a running `flowctl serve` (a dry-run store of examples/team.yaml) with
# schemas/openapi.yaml: every operation, examples, coverage and fuzzing phases, all checks
# that apply. A bad body of any shape must get a 4xx naming the field, never a 500; every
# answer must match the spec.
# Usage: scripts/schemathesis.sh FLOWCTL [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
flowctl=${1:?usage: scripts/schemathesis.sh FLOWCTL [MAX_EXAMPLES]}
examples=${2:-100}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
"$flowctl" store init "$work/team.sqlite" --world examples/team.yaml >/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/auth.key"
# Rates high enough that the fuzzer is not throttled (429 is tested elsewhere).
"$flowctl" serve --store "$work/team.sqlite" --flows flows --auth-key "$work/auth.key" \
  --listen 127.0.0.1:0 --rate-per-user 100000 --rate-per-address 100000 \
  > "$work/serve.out" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/serve.out" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/serve.out")
[ -n "$url" ] || { cat "$work/serve.log" >&2; exit 1; }
token=$("$flowctl" token ada --auth-key "$work/auth.key" --ttl 1h)
# Operations on one session get a real session of Ada's as their {id} (else every request
# would stop at 404 before its body is read): the own-number flow, which stays open however
# the fuzzer's events land (a wrong event is rejected; cancel ends it, and then 410 is tested).
session=$(curl -s -X POST -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
  --data-binary '{"flow":"update-team-member-2fa-phone","target":"tess"}' "$url/v1/sessions" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
cat > "$work/schemathesis.toml" <<TOML
[[operations]]
include-path-regex = '^/v1/sessions/\{id\}'
parameters = { id = "$session" }
TOML
status=0
schemathesis --config-file "$work/schemathesis.toml" run schemas/openapi.yaml --url "$url" \
  --header "Authorization: Bearer $token" \
  --checks all --exclude-checks ignored_auth,positive_data_acceptance \
  --phases examples,coverage,fuzzing --max-examples "$examples" \
  --request-timeout 5 --workers 1 --seed 2026 --warnings off \
  --exclude-path /v1/sessions/{id}/stream || status=$?
# The fuzzer's events must have reached the session (steps and rejections are logged).
reached=$(grep -c "session=$session" "$work/serve.log" || true)
echo "events that reached the session: $reached"
if [ "$reached" -lt 1 ]; then
  echo "the fuzzer's events did not reach the session" >&2
  status=1
fi
if grep -q '"status":500\| 500 ' "$work/serve.log"; then
  echo "the server logged a 500" >&2
  status=1
fi
exit $status
