#!/usr/bin/env bash
# The wallboard's cost: 1,000 callers wait (SIPp, five queues of 200 with no agents), callers
# joining and leaving all the time, and the holdline process's CPU (utime + stime from
# /proc/PID/stat) is measured over windows with no wallboard, with 50 wallboard clients that
# only read the live feed (Server-Sent Events), and with 50 that also do what the page's script
# does (fetch the board's figures after each `changed` and every 5 s;
# bench/wallboard_clients.py). The windows alternate, ROUNDS times, in one run against one
# server.
#
#   bash bench/wallboard_cost.sh [ROUNDS] [WINDOW_S] [CLIENTS]     default 3 10 50
#
# Needs a release build (cargo build --release --bin holdline), sipp and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
window=${2:-10}
clients=${3:-50}
queues=5
rate=${RATE:-25}            # new callers a second, over all queues
hold_ms=${HOLD_MS:-40000}   # each waits this long and hangs up: 1,000 waiting in the steady state
bin=${HOLDLINE_BIN:-./target/release/holdline}
token=bench-wallboard-token
command -v sipp >/dev/null || { echo "sipp missing: apt-get install sip-tester" >&2; exit 1; }
dir=$(mktemp -d)
{
  printf '[sip]\nlisten = ["udp:127.0.0.1:0"]\n[rtp]\nports = "20000-29999"\ntimeout = 0\n'
  printf '[api]\ntoken = "%s"\n' "$token"
  # The event log in a file, as `holdline serve` keeps it: the board's "today" reads it.
  printf '[store]\npath = "%s/holdline.db"\n' "$dir"
  # SIPp places every call from 127.0.0.1: one source at a carrier's rate.
  printf '[limits]\nrequest_rate = 1000000\nburst = 1000000\nunconfirmed_per_source = 100000\n'
  for i in $(seq 0 $((queues - 1))); do
    n=$(printf '+1425557%04d' "$i")
    printf '[[number]]\ne164 = "%s"\nkind = "service-toll"\n' "$n"
    printf '[[queue]]\nid = "wb%d"\nnumbers = ["%s"]\nmax_calls = 200\nmax_wait = 2700\n' "$i" "$n"
  done
} > "$dir/holdline.toml"
{
  echo SEQUENTIAL
  for i in $(seq 0 $((queues - 1))); do printf '+1425557%04d\n' "$i"; done
} > "$dir/numbers.csv"
sed 's/\[service\]/[field0]/g' sip-fixtures/sipp/uac_basic.xml > "$dir/uac.xml"
RUST_LOG=holdline=warn "$bin" serve --config "$dir/holdline.toml" \
  --api-listen 127.0.0.1:0 > "$dir/out" 2> "$dir/log" &
pid=$!
sipp_pid=
cleanup() {
  [ -n "$sipp_pid" ] && kill "$sipp_pid" 2>/dev/null
  kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q '^ready' "$dir/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening sip udp .*:\([0-9]*\)$/\1/p' "$dir/out")
api=$(sed -n 's/^listening api \(.*\)$/\1/p' "$dir/out")
(cd "$dir" && exec sipp "127.0.0.1:$port" -sf uac.xml -inf numbers.csv -t u1 -i 127.0.0.1 -p 0 \
  -mi 127.0.0.1 -nostdin -r "$rate" -d "$hold_ms" -l 1100 -m 1000000 -max_socket 4096 \
  -timeout 3600s > sipp.out 2>&1) &
sipp_pid=$!
waiting() {
  curl -s -H "Authorization: Bearer $token" "http://$api/metrics" |
    awk '/^holdline_calls_waiting\{/ {n += $2} END {print n + 0}'
}
# The steady state: every caller placed and waiting, then a few seconds more.
ramp=$(( hold_ms / 1000 + 5 ))
sleep "$ramp"
echo "callers waiting after ${ramp}s: $(waiting)"
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
logged() { sqlite3 "$dir/holdline.db" 'select count(*) from events' 2>/dev/null || echo "?"; }
# One window: CPU share of one core (per cent) over $window seconds.
measure() {
  local t0 t1
  t0=$(ticks)
  sleep "$window"
  t1=$(ticks)
  awk -v a="$t0" -v b="$t1" -v hz="$hz" -v w="$window" 'BEGIN {printf "%.1f", 100 * (b - a) / hz / w}'
}
printf 'round | waiting | none | stream | browser | events logged\n'
for r in $(seq "$rounds"); do
  none=$(measure)
  python3 bench/wallboard_clients.py "$api" "$token" "$clients" stream $((window + 4)) > "$dir/stream.txt" &
  c=$!; sleep 3; stream=$(measure); wait "$c"
  python3 bench/wallboard_clients.py "$api" "$token" "$clients" browser $((window + 4)) > "$dir/browser.txt" &
  c=$!; sleep 3; browser=$(measure); wait "$c"
  printf '%s | %s | %s %% | %s %% | %s %% | %s\n' "$r" "$(waiting)" "$none" "$stream" "$browser" "$(logged)"
  sed 's/^/    stream:  /' "$dir/stream.txt"
  sed 's/^/    browser: /' "$dir/browser.txt"
done
grep -E "Successful call|Failed call" "$dir/sipp.out" | tail -2 || true
