#!/usr/bin/env bash
# Music on hold at scale, timed on the wire: holdline-bench places CALLS callers on the queues
# of CONFIG (it starts holdline itself), and during the steady state dumpcap records the RTP
# that reaches the bench's ports with kernel timestamps. Prints the bench's report and, from
# the capture, per-stream |inter-arrival − ptime| p50 / p99 / max, the streams seen, and how
# often a stream's RTP timestamp jumped by more than one packet (the pacer skipping after a
# stall).
#
#   bash bench/moh_wire.sh bench/moh-2000.toml 2000 [DURATION_S] [RATE]
#
# Needs a release build (cargo build --release --bins), dumpcap (Debian: tshark) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${1:?config file}
calls=${2:?number of calls}
duration=${3:-30}
rate=${4:-200}
out=$(mktemp -d)
numbers=$(python3 -c "
import re,sys
print(','.join(re.findall(r'e164 = \"(\+[0-9]+)\"', open('$config').read())))")

./target/release/holdline-bench --spawn "$config" --number "$numbers" --calls "$calls" \
  --rate "$rate" --duration "$duration" >"$out/bench.txt" 2>"$out/bench.err" &
bench=$!
# Steady state: every call placed and answered, then a few seconds more.
ramp=$(python3 -c "print(int($calls / $rate) + 4)")
sleep "$ramp"
capture=$((duration - ramp > 12 ? 10 : duration - ramp - 2))
# A 64 MiB buffer drops nothing at 100,000 packets/s. Opening the capture stalls the CPU it runs
# on while the kernel sets up the buffer (about 2 s for 512 MiB on this non-preemptible kernel,
# 0.1 s for 64 MiB): a pacer shard on that CPU skips what fell due, before the capture starts.
dumpcap -q -i lo -B 64 -s 64 -f "udp dst portrange 30000-39999" -a "duration:$capture" \
  -w "$out/cap.pcap" 2>"$out/dumpcap.err"
wait "$bench"
cat "$out/bench.txt"
python3 bench/rtp_wire.py "$out/cap.pcap" "wire"
rm -rf "$out"
