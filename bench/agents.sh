#!/usr/bin/env bash
# The queue under load: CALLERS callers wait on music on hold while one SIPp plays AGENTS
# agents' phones (each INVITE rings 200 ms, is answered, talks TALK_MS, hangs up with BYE);
# every BYE frees an agent, and holdline offers it the next waiting caller at once.
#
#   bash bench/agents.sh [CALLERS=1000] [AGENTS=200] [TALK_MS=10000]
#
# A queue holds at most 200 callers (max_calls) and 50 agents, so the callers are spread over
# ceil(CALLERS / 200) queues, each with its share of the agents (routing longest-idle,
# parallel offers). holdline-bench places the callers (and starts holdline); dumpcap records
# the SIP to and from the agents' SIPp (whole packets) and the RTP to the callers (headers).
# From the capture it prints:
#   - distribution rate: INVITEs to agents per second over the busy period;
#   - agent free → INVITE sent: for each agent's BYE, the time until holdline's next INVITE to
#     that agent leaves (kernel timestamps both), while callers were still waiting;
#   - the callers' RTP: per-stream |inter-arrival − 20 ms| p50 / p99 / max, timestamp jumps.
#
# Needs a release build (cargo build --release --bins), sipp (sip-tester), dumpcap and tshark.
set -euo pipefail
cd "$(dirname "$0")/.."

callers=${1:-1000}
agents=${2:-200}
talk_ms=${3:-10000}
# REALTIME=false runs the pacer threads at normal priority, for comparison.
realtime=${REALTIME:-true}
# NICE_TOOLS=1 runs SIPp, holdline-bench and dumpcap at nice 10 (holdline itself at 0), standing
# in for load generators on other machines.
tools_nice=0
[ "${NICE_TOOLS:-0}" = 1 ] && tools_nice=10
# RTP_CAPTURE=0 leaves out the capture of the callers' RTP (50,000 packets/s through dumpcap on
# the same two cores), to time the signalling without that observer.
rtp_capture=${RTP_CAPTURE:-1}
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT

agent_port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
queues=$(( (callers + 199) / 200 ))
python3 - "$agents" "$queues" "$agent_port" "$realtime" >"$out/agents.toml" <<'EOF'
import sys
agents, queues, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
# Every call comes from 127.0.0.1: lift admission control's per-source limits.
print('[limits]\nrequest_rate = 1000000\nburst = 1000000\nunconfirmed_per_source = 100000\n')
# One SIPp stands for every agent's phone and takes only INVITEs: no OPTIONS probes.
print('[probe]\ninterval = 0\n')
print('[sip]\nlisten = ["udp:127.0.0.1:0"]\n[rtp]\nports = "20000-29999"\ntimeout = 0\n'
      f'realtime = {sys.argv[4]}\n[store]\npath = ":memory:"\n')
for i in range(agents):
    print(f'[[user]]\nid = "agent{i:03d}"\ncontacts = ["sip:agent{i:03d}@127.0.0.1:{port}"]\n')
# Each queue gets its own share of the agents (a queue takes at most 50).
per = agents // queues
for q in range(queues):
    members = ", ".join(f'"agent{i:03d}"' for i in range(q * per, (q + 1) * per))
    print(f'[[number]]\ne164 = "+142555800{q:02d}"\nkind = "service-toll"\n')
    print(f'[[queue]]\nid = "q{q}"\nnumbers = ["+142555800{q:02d}"]\nagents = [{members}]\n'
          'routing = "longest-idle"\noffer = "parallel"\nmax_calls = 200\nmax_wait = 2700\n')
EOF
numbers=$(python3 -c "print(','.join(f'+142555800{q:02d}' for q in range($queues)))")

nice -n "$tools_nice" sipp -sf sip-fixtures/sipp/uas_bench_agent.xml -t u1 -i 127.0.0.1 -p "$agent_port" \
  -key rtp_port 9 -d "$talk_ms" -nostdin >"$out/sipp.out" 2>&1 &
sleep 1
nice -n "$tools_nice" dumpcap -q -i lo -B 256 -f "udp port $agent_port" -w "$out/sip.pcap" 2>"$out/dumpcap-sip.err" &
cap_sip=$!
cap_rtp=
if [ "$rtp_capture" = 1 ]; then
  nice -n "$tools_nice" dumpcap -q -i lo -B 512 -s 64 -f "udp dst portrange 30000-39999" \
    -w "$out/rtp.pcap" 2>"$out/dumpcap-rtp.err" &
  cap_rtp=$!
fi
sleep 1
# The server runs at nice 0 whatever the tools run at.
printf '#!/bin/sh\nexec nice -n -%s %s/target/release/holdline "$@"\n' "$tools_nice" "$PWD" >"$out/holdline"
chmod +x "$out/holdline"
nice -n "$tools_nice" ./target/release/holdline-bench --holdline-bin "$out/holdline" \
  --spawn "$out/agents.toml" --number "$numbers" \
  --calls "$callers" --rate 200 --duration 600 --setup-timeout 10 | tee "$out/bench.txt"
sleep 1
kill -INT $cap_sip $cap_rtp
wait $cap_sip $cap_rtp 2>/dev/null || true

tshark -r "$out/sip.pcap" -Y sip -T fields -e frame.time_epoch -e udp.srcport -e udp.dstport \
  -e sip.Method -e sip.r-uri.user -e sip.from.user 2>/dev/null | python3 -c '
import sys
port = int(sys.argv[1])
byes, invites = [], []
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    if len(f) < 6:
        continue
    t, src, dst, method, ruri, frm = float(f[0]), int(f[1]), int(f[2]), f[3], f[4], f[5]
    if method == "BYE" and src == port:
        byes.append((t, frm))
    elif method == "INVITE" and dst == port:
        invites.append((t, ruri))
invites.sort()
if not invites:
    sys.exit("no INVITE to the agents was captured")
first, last = invites[0][0], invites[-1][0]
print("agents: %d INVITEs in %.1f s (%.1f per second), %d agent BYEs"
      % (len(invites), last - first, (len(invites) - 1) / max(last - first, 1e-9), len(byes)))
by_agent = {}
for t, ruri in invites:
    by_agent.setdefault(ruri, []).append(t)
lat, none = [], 0
import bisect
for t, agent in byes:
    times = by_agent.get(agent, [])
    i = bisect.bisect_right(times, t)
    if i < len(times) and t < last:
        lat.append((times[i] - t) * 1000.0)
    else:
        none += 1
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
if lat:
    print("agent free -> INVITE sent: p50 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d; %d BYEs after the last caller was offered)"
          % (q(0.5), q(0.99), lat[-1], len(lat), none))
' "$agent_port"

if [ "$rtp_capture" = 1 ]; then
  python3 bench/rtp_wire.py "$out/rtp.pcap" "callers rtp (wire)"
fi
