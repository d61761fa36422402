#!/usr/bin/env bash
# Durable steps on PostgreSQL beside pgbench's simple-update TPS on the same throwaway cluster,
# in one run: the engine itself (`flow-bench postgres`: every step durable, no HTTP) with one
# and with three processes, each right after a pgbench run of its own, then the same over
# HTTP (`flow-bench http`: real `flowctl serve` processes) for steps/s and p50/p99 latency.
# Same concurrency throughout.
# Usage: scripts/pg-bench.sh FLOWCTL FLOW_BENCH [SECONDS] [CLIENTS]
# (release builds: swift build -c release; then .build/release/flowctl .build/release/flow-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
flowctl=${1:?usage: scripts/pg-bench.sh FLOWCTL FLOW_BENCH [SECONDS] [CLIENTS]}
bench=${2:?usage: scripts/pg-bench.sh FLOWCTL FLOW_BENCH [SECONDS] [CLIENTS]}
seconds=${3:-20}
clients=${4:-16}
work=$(mktemp -d)
chmod 755 "$work"
trap 'bash scripts/pg-cluster.sh stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
url=$(bash scripts/pg-cluster.sh start "$work/pg")
base=${url%/*}
psql "$url" -q -c "CREATE DATABASE pgbench"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
"$bin/pgbench" -q -i -s 10 "$base/pgbench" >/dev/null 2>&1
# The machine's speed drifts (other tenants, the disk): each engine run is measured right
# after a pgbench run of its own, and its ratio is to that one.
pgbench_run() {
  local out
  out=$("$bin/pgbench" -n -b simple-update -c "$clients" -j 2 -T "$seconds" "$base/pgbench" 2>&1)
  tps=$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  latency=$(printf '%s\n' "$out" | sed -n 's/^latency average = //p')
  echo "pgbench simple-update, $clients clients, ${seconds}s: $tps TPS (latency average $latency)"
}
ratio() { python3 -c "print(f'{float($1):.0f} steps/s; ratio to pgbench {float($1)/float($tps):.2f} (target >= 0.3)')"; }
summary=()
for processes in 1 3; do
  pgbench_run
  out=$("$bench" postgres "$url" --processes "$processes" --seconds "$seconds" --lanes "$clients")
  printf '%s\n' "$out"
  steps=$(printf '%s\n' "$out" | sed -n 's/^engine steps per second: \([0-9.]*\).*/\1/p')
  summary+=("engine, $processes process(es): $(ratio "$steps") (pgbench just before: $tps TPS)")
done
for processes in 1 3; do
  psql "$url" -q -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public"
  out=$("$bench" http "$flowctl" --postgres "$url" --processes "$processes" --rate 0 \
    --seconds "$seconds" --lanes "$clients")
  printf '%s\n' "$out"
  steps=$(printf '%s\n' "$out" | sed -n 's/^steps per second: \([0-9.]*\).*/\1/p')
  latency=$(printf '%s\n' "$out" | sed -n 's/^latency: p50 \([0-9.]*\) ms, p90 [0-9.]* ms, p99 \([0-9.]*\) ms.*/p50 \1 ms, p99 \2 ms/p')
  summary+=("HTTP, $processes process(es): $(ratio "$steps"); $latency (pgbench: $tps TPS)")
done
echo "summary:"
printf '  %s\n' "${summary[@]}"
