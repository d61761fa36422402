#!/usr/bin/env bash
# Builds the libFuzzer binary (with AddressSanitizer) and runs each fuzz target.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 60 s; flow expression world events)
# With FUZZ_RUNS=N each target runs exactly N inputs from a fixed seed instead, so a run (as in
# CI) is repeatable: the same binary and seeds explore the same inputs.
# Seeds come from the fixtures, flows, examples and scenarios; crashes are written to
# fuzz-out/<target>/crash-*, and fuzz-out/<target>/corpus keeps what was found.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(flow expression world events)

scratch=${FUZZ_SCRATCH:-.build-fuzz}
FLOWENGINE_FUZZ=1 swift build -c release --scratch-path "$scratch" --product FlowFuzz \
  -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address
binary=$scratch/release/FlowFuzz

seed() {
  local target=$1 dir=$2
  mkdir -p "$dir"
  case "$target" in
    flow) cp flows/*.yaml Tests/Fixtures/valid/*.yaml Tests/Fixtures/invalid/*.yaml Tests/Fixtures/invalid-schema/*.yaml Tests/Fixtures/flows/*.yaml "$dir"/ ;;
    world) cp examples/team.yaml Tests/Fixtures/invalid-world/*.yaml "$dir"/ ;;
    events) cp examples/own-*.yaml examples/team-member-*.yaml Tests/Fixtures/invalid-events/*.yaml "$dir"/ ;;
    expression)
      grep -hoE '(when|[a-zA-Z]+): [a-z].*(==|and|or|not).*' flows/*.yaml Tests/Fixtures/invalid/*.yaml |
        sed -E 's/^[a-zA-Z]+: //' | awk -v d="$dir" 'NR <= 200 { f = d "/seed-" NR; print > f; close(f) }'
      ;;
  esac
}

status=0
for target in "${targets[@]}"; do
  out=fuzz-out/$target
  mkdir -p "$out/corpus"
  seed "$target" "$out/seeds"
  if [ -n "${FUZZ_RUNS:-}" ]; then
    budget=(-runs="$FUZZ_RUNS" -seed=1)
    export SWIFT_DETERMINISTIC_HASHING=1
    echo "== fuzzing $target ($FUZZ_RUNS inputs from a fixed seed)"
  else
    budget=(-max_total_time="$seconds")
    echo "== fuzzing $target for ${seconds}s"
  fi
  if ! FUZZ_TARGET=$target LSAN_OPTIONS=suppressions=scripts/lsan.supp:print_suppressions=0 "$binary" "$out/corpus" "$out/seeds" "${budget[@]}" -timeout=5 \
    -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$out/" -print_final_stats=1 2>"$out/log.txt"; then
    echo "fuzz target $target found a problem; see $out/log.txt and $out/crash-*" >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov: " "$out/log.txt" | tail -3
done
exit $status
