"""RTP timing on the wire from a capture: per-stream |inter-arrival - ptime| and timestamp jumps.

    python3 bench/rtp_wire.py CAPTURE.pcap [LABEL] [PTIME_MS]

Reads the capture with tshark (kernel timestamps), groups RTP packets by UDP destination port
(even ports only: RTCP goes to the odd ones) and SSRC, and prints the p50 / p99 / max deviation
of the gaps between a stream's consecutive packets from the packet time, how often a stream's
RTP timestamp moved by more than one packet (a sender skipping packets after a stall), and the
stream with the largest gap. Used by bench/moh_wire.sh and bench/agents.sh.
"""
import subprocess
import sys
from collections import defaultdict


def main():
    capture = sys.argv[1]
    label = sys.argv[2] if len(sys.argv) > 2 else "wire"
    ptime = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    samples = int(ptime * 8)
    fields = subprocess.run(
        ["tshark", "-r", capture, "-T", "fields", "-e", "frame.time_epoch",
         "-e", "udp.dstport", "-e", "udp.payload"],
        capture_output=True, text=True, check=True).stdout
    streams = defaultdict(list)
    for line in fields.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        t, port, payload = float(parts[0]), int(parts[1]), parts[2].strip().replace(":", "")
        # RTP version 2 only: the port range may also hold ephemeral ports (SIP sockets bound
        # to port 0), whose text would otherwise count as a stream with odd gaps and jumps.
        if port % 2 or len(payload) < 24 or int(payload[0:2], 16) >> 6 != 2:
            continue
        streams[(port, payload[16:24])].append((t, int(payload[8:16], 16)))
    devs, jumps, packets = [], 0, 0
    worst = (0.0, None)
    for (port, _ssrc), pkts in streams.items():
        packets += len(pkts)
        for (t0, ts0), (t1, ts1) in zip(pkts, pkts[1:]):
            dev = abs((t1 - t0) * 1000.0 - ptime)
            devs.append(dev)
            worst = max(worst, (dev, port))
            if (ts1 - ts0) % 2**32 > samples:
                jumps += 1
    devs.sort()
    if not devs:
        print(f"{label}: no RTP captured")
        return

    def q(p):
        return devs[min(len(devs) - 1, int(p * len(devs)))]

    print(f"{label}: {len(streams)} streams, {packets} packets, |dt-{ptime:g}ms| "
          f"p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, max {devs[-1]:.2f} ms "
          f"(port {worst[1]}), timestamp jumps {jumps}")


if __name__ == "__main__":
    main()
