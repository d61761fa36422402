#!/usr/bin/env bash
# Durable steps on PostgreSQL over HTTP, with one and with three `flowctl serve` processes,
# beside pgbench's simple-update TPS on the same throwaway cluster, in one run.
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
pgbench_out=$("$bin/pgbench" -n -b simple-update -c "$clients" -j 2 -T "$seconds" "$base/pgbench" 2>&1)
tps=$(printf '%s\n' "$pgbench_out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
latency=$(printf '%s\n' "$pgbench_out" | sed -n 's/^latency average = //p')
echo "pgbench simple-update, $clients clients, ${seconds}s: $tps TPS (latency average $latency)"
for processes in 1 3; do
  psql "$url" -q -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public"
  out=$("$bench" http "$flowctl" --postgres "$url" --processes "$processes" --rate 0 \
    --seconds "$seconds" --lanes "$clients")
  printf '%s\n' "$out"
  steps=$(printf '%s\n' "$out" | sed -n 's/^steps per second: \([0-9.]*\).*/\1/p')
  python3 -c "print(f'$processes process(es): {float($steps):.0f} steps/s; ratio to pgbench {float($steps)/float($tps):.2f} (target >= 0.3)')"
done
