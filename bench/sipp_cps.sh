#!/usr/bin/env bash
# Signalling throughput: SIPp places calls at a fixed rate against a release build of holdline
# on loopback (INVITE → 100 → 200 → ACK, hold, BYE → 200) and reports SIPp's counters and the
# server's CPU time and peak RSS.
#
#   bash bench/sipp_cps.sh RATE CALLS [HOLD_MS]      e.g. bash bench/sipp_cps.sh 500 30000 1000
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-500}
calls=${2:-30000}
hold=${3:-1000}
command -v sipp >/dev/null || { echo "sipp missing: apt-get install sip-tester" >&2; exit 1; }
cargo build --release -q
dir=$(mktemp -d)
# A queue holds at most 200 callers (max_calls), so the calls are spread over enough queues,
# one service number each, that none overflows: SIPp takes the numbers from a CSV file in turn.
queues=$(( rate * (hold + 1000) / 1000 / 150 + 1 ))
{
  printf '[sip]\nlisten = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]\n[rtp]\nports = "20000-60000"\n'
  # SIPp places every call from 127.0.0.1: one source at a carrier's rate, which admission
  # control's per-source defaults would ban.
  printf '[limits]\nrequest_rate = 1000000\nburst = 1000000\nunconfirmed_per_source = 100000\n'
  for i in $(seq 0 $((queues - 1))); do
    n=$(printf '+1425556%04d' "$i")
    printf '[[number]]\ne164 = "%s"\nkind = "service-toll"\n' "$n"
    printf '[[queue]]\nid = "bench%d"\nnumbers = ["%s"]\nmax_calls = 200\n' "$i" "$n"
  done
} > "$dir/holdline.toml"
{
  echo SEQUENTIAL
  for i in $(seq 0 $((queues - 1))); do printf '+1425556%04d\n' "$i"; done
} > "$dir/numbers.csv"
sed 's/\[service\]/[field0]/g' sip-fixtures/sipp/uac_basic.xml > "$dir/uac.xml"
RUST_LOG=holdline=warn ./target/release/holdline serve --config "$dir/holdline.toml" --api-listen 127.0.0.1:0 \
  > "$dir/out" 2> "$dir/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do grep -q '^ready' "$dir/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening sip udp .*:\([0-9]*\)$/\1/p' "$dir/out")
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); start=$(date +%s.%N)
set +e
(cd "$dir" && sipp "127.0.0.1:$port" -sf uac.xml -inf numbers.csv -t u1 -i 127.0.0.1 -p 0 -nostdin -r "$rate" -m "$calls" -d "$hold" \
  -l $((rate * (hold / 1000 + 3))) -max_socket 4096 -timeout 600s -trace_stat -fd 1 \
  -stf stats.csv > sipp.out 2>&1)
rc=$?
set -e
end=$(date +%s.%N); t1=$(ticks)
hz=$(getconf CLK_TCK)
wall=$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')
cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {print (b - a) / hz}')
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
grep -E "Successful call|Failed call|Retransmissions|Call Rate|Response Time|Total Call" "$dir/sipp.out" | tail -12 || true
printf 'sipp exit %s | rate %s cps | calls %s | hold %s ms | wall %.1f s | server CPU %.2f s (%.1f%% of one core) | server peak RSS %s KiB\n' \
  "$rc" "$rate" "$calls" "$hold" "$wall" "$cpu" "$(awk -v c="$cpu" -v w="$wall" 'BEGIN {print 100 * c / w}')" "$rss"
exit $rc
