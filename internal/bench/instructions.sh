#!/usr/bin/env bash
# Instructions per event of a Go benchmark, counted by valgrind's callgrind.
# Unlike times, the count does not depend on what else the machine is doing,
# so it compares two versions of the code fairly on a shared machine.
# Usage: internal/bench/instructions.sh [PACKAGE [BENCHMARK]]
#   default: ./internal/engine 'Process$'; e.g. internal/bench/instructions.sh ./internal/engine Baseline
# It runs the benchmark for 20,000 and 120,000 iterations and divides the
# difference by 100,000, so set-up work cancels out. Expect +-2% from the
# garbage collector's timing.
set -euo pipefail
cd "$(dirname "$0")/../.."
pkg=${1:-./internal/engine}
bench=${2:-'Process$'}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install -y valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" "$pkg"
count() {
  # Go's asynchronous preemption signals crash callgrind; one P keeps the
  # benchmark on one thread as with -cpu 1.
  # The test binary runs in its package's folder, as go test runs it.
  (cd "$pkg" && GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/out.$1" \
    "$tmp/bench.test" -test.run '^$' -test.bench "$bench" -test.cpu 1 -test.benchtime "${1}x" >"$tmp/bench.$1" 2>"$tmp/log.$1") ||
    { echo "the benchmark failed:" >&2; cat "$tmp/bench.$1" >&2; exit 1; }
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/log.$1"
}
small=$(count 20000)
large=$(count 120000)
if [ -z "$small" ] || [ -z "$large" ]; then
  echo "no instruction count in valgrind's output ($tmp/log.*)" >&2
  exit 1
fi
echo "$pkg $bench: $(( (large - small) / 100000 )) instructions per iteration"
