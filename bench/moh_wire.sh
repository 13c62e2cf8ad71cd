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
dumpcap -q -i lo -B 512 -s 64 -f "udp dst portrange 30000-39999" -a "duration:$capture" \
  -w "$out/cap.pcap" 2>"$out/dumpcap.err"
wait "$bench"
cat "$out/bench.txt"
tshark -r "$out/cap.pcap" -T fields -e frame.time_epoch -e udp.dstport -e udp.payload \
  2>/dev/null | python3 -c '
import sys
from collections import defaultdict
streams = defaultdict(list)
for line in sys.stdin:
    parts = line.split("\t")
    if len(parts) < 3:
        continue
    t, port, payload = float(parts[0]), int(parts[1]), parts[2].strip().replace(":", "")
    if port % 2 or len(payload) < 24:
        continue
    ts = int(payload[8:16], 16)
    streams[port].append((t, ts))
devs, jumps, packets = [], 0, 0
for pkts in streams.values():
    packets += len(pkts)
    for (t0, ts0), (t1, ts1) in zip(pkts, pkts[1:]):
        devs.append(abs((t1 - t0) * 1000.0 - 20.0))
        if (ts1 - ts0) % 2**32 > 160:
            jumps += 1
devs.sort()
q = lambda p: devs[min(len(devs) - 1, int(p * len(devs)))] if devs else float("nan")
print("wire: %d streams, %d packets, |dt-20ms| p50 %.2f ms, p99 %.2f ms, max %.2f ms, "
      "timestamp jumps %d" % (len(streams), packets, q(0.5), q(0.99), q(1.0), jumps))
'
rm -rf "$out"
