#!/usr/bin/env bash
# The README's durable walk-through: the own-number procedure on a SQLite store, one flowctl
# process per event, reading each code off the store's simulated phone. Fails on any surprise.
set -euo pipefail
flowctl=${1:-.build/debug/flowctl}
store=$(mktemp -d)/team.sqlite

"$flowctl" store init "$store" --world examples/team.yaml
id=$("$flowctl" session start flows/update-own-2fa-phone.yaml --store "$store" --actor ada --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["session"])')
echo "session $id"
"$flowctl" session send "$id" disable2FA --store "$store" --seq 1
"$flowctl" session send "$id" submitCode code="$("$flowctl" store inbox "$store" +15550100001 --last-code)" --store "$store"
"$flowctl" session send "$id" editPhone phone=+15550109999 --store "$store"
"$flowctl" session send "$id" save --store "$store"
"$flowctl" session send "$id" enable2FA --store "$store"
"$flowctl" session send "$id" submitCode code="$("$flowctl" store inbox "$store" +15550109999 --last-code)" --store "$store"
# (Not `tee /dev/stderr`: when standard error is a file, tee reopens it and truncates it.)
shown=$("$flowctl" session show "$id" --store "$store" --json)
printf '%s\n' "$shown" >&2
printf '%s\n' "$shown" |
  python3 -c 'import json, sys; s = json.load(sys.stdin); assert s["outcome"] == "completed" and s["seq"] == 7, s'
"$flowctl" store audit "$store" --session "$id" | grep -c ' step ' | grep -qx 7
echo "session-demo: completed at seq 7"
