#!/usr/bin/python3
"""evstored under heavy and careless clients: append latency and server memory.

Starts evstored on a temp directory, stores N events of S bytes (default 300
of 1 MB), then runs, each on the same server:

  reads    four clients page through $all (GET /streams/$all?limit=1000,
           following `next`) while one client appends small events one after
           another: append latency p50/p99/max, MB/s read, peak RSS.
  noread   four WebSocket and four SSE subscribers from position 0 that never
           read a byte: server RSS above idle after --hold seconds.
  ackflood one WebSocket consumer subscription sending --acks acks as fast as
           the socket takes them, never reading a reply: RSS above idle.

Prints a Markdown table. The targets of the server (docs/reliability.md): an
append p99 under 50 ms during the reads, and under 64 MiB above idle in
noread and ackflood.

    bench/server-hostile.py [--events 300] [--size 1000000] [--seconds 10]
                            [--only reads,noread,ackflood] [--server build/evstored]

Python 3 standard library only (raw sockets for the WebSocket clients).
"""
import argparse
import base64
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class rss_sampler:
    """Samples a process's RSS every 20 ms; `peak` is the highest seen."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop_flag = pid, 0, False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_flag:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)

    def stop(self):
        self.stop_flag = True
        self.thread.join()
        return self.peak


def start_server(binary, data, extra):
    proc = subprocess.Popen([binary, "--data", data, "--listen", "127.0.0.1:0"] + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    banner = proc.stdout.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)", banner).group(1))
    return proc, port


def post(conn, stream, body):
    conn.request("POST", "/streams/" + stream, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    if r.status != 201:
        raise RuntimeError(f"append to {stream}: {r.status}")


def load(port, events, size):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    payload = json.dumps({"type": "Big", "data": {"blob": "x" * size}})
    for _ in range(events):
        post(conn, "big-1", payload)
    conn.close()


def reads(port, pid, seconds):
    stop = threading.Event()
    read_bytes = [0] * 4
    errors = []

    def reader(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        pos = 0
        try:
            while not stop.is_set():
                conn.request("GET", f"/streams/$all?limit=1000&from={pos}")
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError(f"read: {r.status} {body[:200]!r}")
                read_bytes[k] += len(body)
                nxt = json.loads(body)["next"]
                pos = 0 if nxt is None else nxt
        except Exception as e:  # reported in the table
            errors.append(str(e))

    idle = rss_kib(pid)
    sampler = rss_sampler(pid)
    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(1)  # the readers are under way
    append_timeout = 30
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=append_timeout)
    latencies = []
    end = time.monotonic() + seconds
    timeouts = 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            post(conn, "small-1", '{"type":"Small","data":{}}')
        except TimeoutError:  # counted at the timeout: the server never answered in time
            timeouts += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=append_timeout)
        latencies.append((time.monotonic() - t0) * 1000)
    stop.set()
    for t in threads:
        t.join()
    peak = sampler.stop()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    mb = sum(read_bytes) / 1e6
    return [("reads: appends during 4 readers of $all", f"{len(latencies)}"),
            ("reads: append latency p50 / p99 / max (ms)", f"{p(0.5):.1f} / {p(0.99):.1f} / {latencies[-1]:.1f}"),
            ("reads: appends unanswered within 30 s", f"{timeouts}"),
            ("reads: MB/s of response bodies", f"{mb / (seconds + 1):.0f}"),
            ("reads: peak RSS above idle (MiB)", f"{(peak - idle) / 1024:.0f}"),
            ("reads: reader errors", f"{len(errors)} {errors[:1]}")]


def ws_handshake(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    return s


def ws_frame(text):
    payload = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    n = len(payload)
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def noread(port, pid, hold):
    idle = rss_kib(pid)
    sampler = rss_sampler(pid)
    socks = [ws_handshake(port, "/subscribe?stream=$all&from=0") for _ in range(4)]
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /streams/$all?live=true&from=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        socks.append(s)
    time.sleep(hold)
    peak = sampler.stop()
    for s in socks:
        s.close()
    return [("noread: 4 WS + 4 SSE from 0, never reading: peak RSS above idle (MiB)", f"{(peak - idle) / 1024:.0f}")]


def ackflood(port, pid, acks, hold):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(10):
        post(conn, "acks-1", '{"type":"Small","data":{}}')
    idle = rss_kib(pid)
    sampler = rss_sampler(pid)
    s = ws_handshake(port, "/subscribe?stream=acks-1&consumer=flood")
    s.setblocking(True)
    s.settimeout(hold)
    sent = 0
    try:
        for k in range(acks):
            s.sendall(ws_frame(json.dumps({"ack": k % 10, "state": {"n": k}})))
            sent += 1
    except (socket.timeout, OSError):
        pass  # the server stopped reading: that is the bound working
    time.sleep(1)
    peak = sampler.stop()
    s.close()
    return [("ackflood: acks sent before the server stopped reading", f"{sent} of {acks}"),
            ("ackflood: peak RSS above idle (MiB)", f"{(peak - idle) / 1024:.0f}")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--hold", type=float, default=5)
    ap.add_argument("--acks", type=int, default=30000)
    ap.add_argument("--only", default="reads,noread,ackflood")
    ap.add_argument("--server", default=os.path.join(os.path.dirname(__file__), "..", "build", "evstored"))
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="evstore-hostile-") as tmp:
        proc, port = start_server(a.server, os.path.join(tmp, "data"), [])
        try:
            load(port, a.events, a.size)
            rows.append(("stored", f"{a.events} events of {a.size} bytes; server RSS {rss_kib(proc.pid) // 1024} MiB"))
            only = a.only.split(",")
            if "reads" in only:
                rows += reads(port, proc.pid, a.seconds)
            if "noread" in only:
                rows += noread(port, proc.pid, a.hold)
            if "ackflood" in only:
                rows += ackflood(port, proc.pid, a.acks, a.hold)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    print("| figure | value |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
