#!/usr/bin/env python3
"""Wallboard screens for the wallboard-cost benchmark (bench/wallboard_cost.sh).

    python3 bench/wallboard_clients.py API_ADDR TOKEN CLIENTS MODE SECONDS

Each client signs in to the console with the API token (its own session, as a browser does),
loads /wallboard and keeps /wallboard-data/feed (Server-Sent Events) open, reading every event.
MODE "stream": that is all. MODE "browser": also what the page's script does
(assets/wallboard.js): fetch /wallboard-data/status when the feed opens, after events (never
two at once; an event during a fetch gets one more fetch after it; no closer together than the
script's MIN_GAP_MS) and every 5 s, passing the newest event id it was told of as `seq`, as
the script does. Prints the total of events read and status fetches made.
"""
import http.client
import socket
import sys
import threading
import time

api, token, clients, mode, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
host, port = api.rsplit(":", 1)
port = int(port)
# The page script's minimum gap between two status fetches (ms), when it has one: read from
# the embedded script so the benchmark follows what browsers run.
MIN_GAP = 0.0


def sign_in():
    c = http.client.HTTPConnection(host, port, timeout=10)
    body = "user=&secret=" + token
    c.request("POST", "/sign-in", body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": "http://" + api,
    })
    r = c.getresponse()
    r.read()
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    if not cookie.startswith("hl_session="):
        raise SystemExit("sign-in failed: %s" % r.status)
    c.close()
    return cookie


def script_min_gap(cookie):
    global MIN_GAP
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", "/assets/wallboard.js", headers={"Cookie": cookie})
    text = c.getresponse().read().decode()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("var MIN_GAP_MS"):
            MIN_GAP = int(line.split("=")[1].strip().rstrip(";")) / 1000.0


class Client:
    def __init__(self, cookie):
        self.cookie = cookie
        self.events = 0
        self.fetches = 0
        self.wake = threading.Event()
        self.stop = False
        self.last_fetch = 0.0
        self.seq = 0

    def feed(self):
        s = socket.create_connection((host, port), timeout=2)
        s.sendall(("GET /wallboard-data/feed HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n"
                   "Accept: text/event-stream\r\n\r\n" % (api, self.cookie)).encode())
        buf = b""
        self.wake.set()  # the feed opened: the script refreshes
        while not self.stop:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            buf += chunk
            # An event ends with a blank line; keep-alive comments (":") are not events.
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                if b"data:" in block:
                    self.events += 1
                    for line in block.split(b"\n"):
                        if line.startswith(b"id:"):
                            try:
                                self.seq = max(self.seq, int(line[3:].strip()))
                            except ValueError:
                                pass
                    self.wake.set()
        s.close()

    def refresher(self):
        c = http.client.HTTPConnection(host, port, timeout=10)
        next_poll = time.time() + 5
        while not self.stop:
            woke = self.wake.wait(timeout=max(0.0, next_poll - time.time()))
            if self.stop:
                break
            self.wake.clear()
            now = time.time()
            if not woke and now < next_poll:
                continue
            if MIN_GAP and now - self.last_fetch < MIN_GAP:
                time.sleep(MIN_GAP - (now - self.last_fetch))
                self.wake.clear()
            self.last_fetch = time.time()
            # As the page's script asks: figures at least as new as the newest event it was told of.
            c.request("GET", "/wallboard-data/status?seq=%d" % self.seq, headers={"Cookie": self.cookie})
            c.getresponse().read()
            self.fetches += 1
            if time.time() >= next_poll:
                next_poll = time.time() + 5
        c.close()


cookies = [sign_in() for _ in range(clients)]
script_min_gap(cookies[0])
board = []
for cookie in cookies:
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", "/wallboard", headers={"Cookie": cookie})
    c.getresponse().read()
    c.close()
    cl = Client(cookie)
    board.append(cl)
    threading.Thread(target=cl.feed, daemon=True).start()
    if mode == "browser":
        threading.Thread(target=cl.refresher, daemon=True).start()
time.sleep(seconds)
for cl in board:
    cl.stop = True
    cl.wake.set()
events = sum(c.events for c in board)
fetches = sum(c.fetches for c in board)
print("clients %d mode %s seconds %.0f events %d fetches %d (min gap %.2f s)"
      % (clients, mode, seconds, events, fetches, MIN_GAP), flush=True)
