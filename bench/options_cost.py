#!/usr/bin/env python3
"""What OPTIONS health checks of trunk SBCs cost the server.

Starts the real `holdline serve` (release build) with TRUNKS trunks of one SBC each, every SBC
a UDP socket of this script on 127.0.0.1 that answers OPTIONS with 200 (any other request is
ignored). With health checks on, every SBC gets an OPTIONS every INTERVAL seconds; off, the
same configuration without `health_interval`. After a warm-up of two intervals, the server's
CPU time (utime + stime from /proc/PID/stat, in clock ticks) is read over WINDOW seconds.
Each mode runs RUNS times (alternating, a new server each time); the median is reported.

    python3 bench/options_cost.py [TRUNKS] [INTERVAL_S] [WINDOW_S] [RUNS]

Needs target/release/holdline (cargo build --release --bin holdline), or HOLDLINE_BIN.
"""

import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TRUNKS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
INTERVAL = int(sys.argv[2]) if len(sys.argv) > 2 else 1
WINDOW = int(sys.argv[3]) if len(sys.argv) > 3 else 30
RUNS = int(sys.argv[4]) if len(sys.argv) > 4 else 3
BIN = os.environ.get(
    "HOLDLINE_BIN",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "holdline"),
)
TICK = os.sysconf("SC_CLK_TCK")


def ok(request: bytes) -> bytes:
    """A 200 to `request`: its Via, From, To (with a tag), Call-ID and CSeq."""
    out = [b"SIP/2.0 200 OK"]
    for line in request.split(b"\r\n")[1:]:
        low = line.lower()
        if low.startswith((b"via:", b"from:", b"call-id:", b"cseq:")):
            out.append(line)
        elif low.startswith(b"to:"):
            out.append(line + b";tag=sbc")
    out.append(b"Content-Length: 0")
    return b"\r\n".join(out) + b"\r\n\r\n"


class Sbcs:
    """TRUNKS UDP sockets answering OPTIONS, counted."""

    def __init__(self, n):
        self.socks = []
        self.sel = selectors.DefaultSelector()
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.socks.append(s)
        self.options = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def ports(self):
        return [s.getsockname()[1] for s in self.socks]

    def run(self):
        while not self.stop:
            for key, _ in self.sel.select(timeout=0.2):
                s = key.fileobj
                try:
                    data, addr = s.recvfrom(65535)
                except BlockingIOError:
                    continue
                if data.startswith(b"OPTIONS "):
                    self.options += 1
                    s.sendto(ok(data), addr)

    def close(self):
        self.stop = True
        self.thread.join()
        for s in self.socks:
            s.close()


def config(ports, health):
    lines = [
        '[sip]\nlisten = ["udp:127.0.0.1:0"]\n',
        '[api]\nlisten = "127.0.0.1:0"\ntoken = "bench"\n',
        '[store]\npath = ":memory:"\n',
        "[probe]\ninterval = 0\n",
    ]
    for i, port in enumerate(ports):
        t = f'[[trunk]]\nid = "t{i}"\nproxy = "sip:127.0.0.1:{port}"\nallow = ["+1425*"]\n'
        if health:
            t += f"health_interval = {INTERVAL}\n"
        lines.append(t)
    return "\n".join(lines)


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5) (utime, stime), counted from after the command name.
    return int(fields[11]) + int(fields[12])


def run(health):
    sbcs = Sbcs(TRUNKS)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "holdline.toml")
        with open(path, "w") as f:
            f.write(config(sbcs.ports(), health))
        env = dict(os.environ, HOLDLINE_LOG=os.environ.get("HOLDLINE_LOG", "holdline=warn"))
        proc = subprocess.Popen(
            [BIN, "serve", "--config", path],
            cwd=d,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(2 + 2 * INTERVAL)
            if proc.poll() is not None:
                raise SystemExit(f"holdline exited with {proc.returncode}")
            t0, o0, w0 = ticks(proc.pid), sbcs.options, time.monotonic()
            time.sleep(WINDOW)
            t1, o1, w1 = ticks(proc.pid), sbcs.options, time.monotonic()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            sbcs.close()
    load = os.getloadavg()[0]
    return (t1 - t0, (o1 - o0) / (w1 - w0), load)


def main():
    results = {True: [], False: []}
    for i in range(RUNS):
        for health in (True, False):
            used, rate, load = run(health)
            results[health].append(used)
            mode = "on " if health else "off"
            print(
                f"run {i + 1} health {mode}: {used} ticks in {WINDOW} s "
                f"({used / TICK / WINDOW * 100:.2f}% of a CPU), {rate:.1f} OPTIONS/s answered, "
                f"load {load:.2f}",
                flush=True,
            )
    on, off = statistics.median(results[True]), statistics.median(results[False])
    print(
        f"median: health on {on} ticks, off {off} ticks over {WINDOW} s "
        f"({TICK} ticks/s); {TRUNKS} SBCs every {INTERVAL} s cost "
        f"{(on - off) / TICK / WINDOW * 100:.2f}% of a CPU"
    )


if __name__ == "__main__":
    main()
