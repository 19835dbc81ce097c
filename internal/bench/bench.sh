#!/usr/bin/env bash
# Replay benchmark: generates realistic 230-byte log lines, replays them
# through the beametrics pipeline on prism with the four metrics of
# internal/bench/replay.yaml, and times the same file through mtail in the same run.
# Usage: internal/bench/bench.sh [EVENTS]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-1000000}
out=internal/bench/out
mkdir -p "$out"

go build -o "$out/beametrics" ./cmd/beametrics
"$out/beametrics" generate --count "$events" --step 1ms > "$out/events.jsonl"
size=$(stat -c %s "$out/events.jsonl")
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "input: $events events, $((size / events)) bytes per event on average"

run() { # name, command...: prints wall seconds and max RSS
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" > "$out/$name.out" 2> "$out/$name.err"
  read -r secs rss < "$out/time.txt"
  awk -v n="$name" -v e="$events" -v s="$secs" -v r="$rss" \
    'BEGIN { printf "%-22s %8.2f s %12.0f events/s %8.0f MiB max RSS\n", n, s, e / s, r / 1024 }'
}

run beametrics "$out/beametrics" --config internal/bench/replay.yaml --input "$out/events.jsonl" --progress-interval 0
points=$(wc -l < "$out/beametrics.out")
echo "  ($points points exported; summary: $(tail -n 1 "$out/beametrics.err"))"

if command -v mtail >/dev/null; then
  run mtail mtail --one_shot --one_shot_format=json --progs internal/bench/replay.mtail --logs "$out/events.jsonl" --logtostderr
else
  echo "mtail: not installed (apt-get install -y mtail); no baseline"
fi
